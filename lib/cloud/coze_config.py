# Coze audio configuration (chat.update / transcriptions.update / speech.update) from settings.
#
# Setting keys (all optional unless said):
#   codec_in pcm|g711a|g711u|opus [pcm]   in_rate [16000; G.711 must be 8000]
#   in_format pcm|wav|ogg [pcm]   in_channels 1|2 [1]   in_bit_depth 8|16|24 [16]
#   in_frame_ms 10..60 [20]: longest uplink frame, sizes the append buffer
#   codec_out pcm|g711a|g711u|opus [pcm]   out_rate [16000; G.711 must be 8000]
#   frame_size_ms [pcm 50, opus 60]   limit_period_s [1]   limit_max_frames [pcm 22, opus 17;
#     0 = no limit_config]: the server then paces its audio instead of bursting (the capture
#     shows 9.7 s of audio arriving in 1.5 s), which a device without PSRAM cannot buffer.
#     The defaults are the hardware guide's values.
#   opus_bitrate, opus_use_cbr   speech_rate -50..100   voice_id
#   mode ptt|free [ptt]   vad_type server_vad|semantic_vad [server_vad] (free talk only)
#   silence_duration_ms 200..2000   prefix_padding_ms 0..5000 (sent in free talk only;
#     push-to-talk sends turn_detection {"type": "client_interrupt"})
#   conversation_id ("" = omitted)   user_id   auto_save_history   meta_data   custom_variables
#   extra_params   parameters   event_subscriptions   need_play_prologue   prologue_content
#   asr_hot_words   asr_context   asr_language   asr_enable_ddc|itn|punc
from cloud.errors import ConfigError

CODECS = ("pcm", "g711a", "g711u", "opus")
RATES = (8000, 16000, 22050, 24000, 32000, 44100, 48000)
OPUS_FRAME_MS = (2.5, 5, 10, 20, 40, 60)
LANGUAGES = ("common", "zh", "cant", "sc", "en", "ja", "ko", "fr", "id", "es", "pt", "ms", "ru")
_OPUS_MAX_PACKET = 1275  # RFC 6716: the largest Opus frame
_RESAMPLE_SLACK = 2  # samples of room past the nominal frame

INPUT_KEYS = ("codec_in", "in_rate", "in_format", "in_channels", "in_bit_depth", "in_frame_ms")
OUTPUT_KEYS = ("codec_out", "out_rate", "frame_size_ms", "limit_period_s", "limit_max_frames",
               "opus_bitrate", "opus_use_cbr", "speech_rate", "voice_id")
ASR_KEYS = ("asr_hot_words", "asr_context", "asr_language", "asr_enable_ddc", "asr_enable_itn",
            "asr_enable_punc")
CHAT_KEYS = ("mode", "vad_type", "silence_duration_ms", "prefix_padding_ms", "conversation_id",
             "user_id", "auto_save_history", "meta_data", "custom_variables", "extra_params",
             "parameters", "event_subscriptions", "need_play_prologue", "prologue_content")


def _rate(s, key, codec):
    if codec in ("g711a", "g711u"):
        rate = s.integer(key, 8000)
        if rate != 8000:
            raise ConfigError(key, "G.711 (%s) runs at 8000 Hz only, got %d" % (codec, rate))
        return rate
    rate = s.integer(key, 16000)
    if rate not in RATES:
        raise ConfigError(key, "must be one of %s Hz, got %d" % ("/".join(map(str, RATES)), rate))
    return rate


def input_audio(s):
    codec = s.choice("codec_in", CODECS, "pcm")
    return {
        "format": s.choice("in_format", ("pcm", "wav", "ogg"), "pcm"),
        "codec": codec,
        "sample_rate": _rate(s, "in_rate", codec),
        "channel": s.choice("in_channels", (1, 2), 1),
        "bit_depth": s.choice("in_bit_depth", (8, 16, 24), 16),
    }


def max_frame_bytes(s):
    """Largest uplink frame the settings allow (sizes the append buffer)."""
    audio = input_audio(s)
    frame_ms = s.integer("in_frame_ms", 20, 10, 60)
    if audio["codec"] == "opus":
        return _OPUS_MAX_PACKET
    width = 1 if audio["codec"] != "pcm" else audio["bit_depth"] // 8 * audio["channel"]
    # + 2 samples: a resampled mic frame (16 -> 24 kHz) is 480 or 481 samples, not always 480.
    return (audio["sample_rate"] * frame_ms // 1000 + _RESAMPLE_SLACK) * width


def _limit(s, codec):
    period = s.integer("limit_period_s", 1, 1, 60)
    frames = s.integer("limit_max_frames", 17 if codec == "opus" else 22, 0, 1000)
    if frames == 0:
        return None
    return {"period": period, "max_frame_num": frames}


def output_audio(s):
    codec = s.choice("codec_out", CODECS, "pcm")
    out = {"codec": codec}
    limit = _limit(s, codec)
    if codec == "opus":
        if s.has("out_rate"):
            raise ConfigError("out_rate", "does not apply to opus output; remove it")
        frame = s.number("frame_size_ms", 60)
        if frame not in OPUS_FRAME_MS:
            raise ConfigError("frame_size_ms", "opus frames are 2.5/5/10/20/40/60 ms, got %s"
                              % frame)
        opus = {"frame_size_ms": frame}
        bitrate = s.integer("opus_bitrate", None, 6000, 510000)
        if bitrate is not None:
            opus["bitrate"] = bitrate
        cbr = s.boolean("opus_use_cbr")
        if cbr is not None:
            opus["use_cbr"] = cbr
        if limit:
            opus["limit_config"] = limit
        out["opus_config"] = opus
    else:
        pcm = {"sample_rate": _rate(s, "out_rate", codec),
               "frame_size_ms": s.number("frame_size_ms", 50, 10, 1000)}
        if limit:
            pcm["limit_config"] = limit
        out["pcm_config"] = pcm
    rate = s.integer("speech_rate", None, -50, 100)
    if rate is not None:
        out["speech_rate"] = rate
    voice = s.text("voice_id")
    if voice is not None:
        out["voice_id"] = voice
    return out


def asr_config(s):
    out = {}
    words = s.strings("asr_hot_words")
    if words is not None:
        out["hot_words"] = words
    context = s.text("asr_context")
    if context is not None:
        out["context"] = context
    language = s.choice("asr_language", LANGUAGES)
    if language is not None:
        out["user_language"] = language
    for key in ("ddc", "itn", "punc"):
        flag = s.boolean("asr_enable_" + key)
        if flag is not None:
            out["enable_" + key] = flag
    return out


def turn_detection(s):
    mode = s.choice("mode", ("ptt", "free"), "ptt")
    vad = s.choice("vad_type", ("server_vad", "semantic_vad"), "server_vad")
    silence = s.integer("silence_duration_ms", None, 200, 2000)
    padding = s.integer("prefix_padding_ms", None, 0, 5000)
    if mode == "ptt":
        # Sent, not left out: the server keeps a field an update leaves out, so after free
        # talk server_vad would stay on and ignore input_audio_buffer.complete.
        return {"type": "client_interrupt"}
    out = {"type": vad}
    if padding is not None:
        out["prefix_padding_ms"] = padding
    if silence is not None:
        out["silence_duration_ms"] = silence
    return out


def chat_config(s):
    out = {}
    for key in ("conversation_id", "user_id"):
        value = s.text(key)
        if value is not None:
            out[key] = value
    flag = s.boolean("auto_save_history")
    if flag is not None:
        out["auto_save_history"] = flag
    for key in ("meta_data", "custom_variables", "extra_params"):
        value = s.mapping(key)
        if value is not None:
            out[key] = value
    params = s.mapping("parameters", str_values=False)
    if params is not None:
        out["parameters"] = params
    return out


def chat_update(s):
    """The data of chat.update."""
    data = {"input_audio": input_audio(s), "output_audio": output_audio(s)}
    config = chat_config(s)
    if config:
        data["chat_config"] = config
    data["turn_detection"] = turn_detection(s)
    asr = asr_config(s)
    if asr:
        data["asr_config"] = asr
    subscriptions = s.strings("event_subscriptions")
    if subscriptions is not None:
        data["event_subscriptions"] = subscriptions
    prologue = s.boolean("need_play_prologue")
    if prologue is not None:
        data["need_play_prologue"] = prologue
    text = s.text("prologue_content")
    if text is not None:
        data["prologue_content"] = text
    return data
