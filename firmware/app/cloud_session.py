# Builds the protocol session for the configured cloud from the device's config.json.
#
# The session is rebuilt on every connect and on a mode switch (its chat.update carries the
# turn detection), keeping the conversation_id the cloud gave us, so the bot's memory of the
# conversation survives a dropped link or a mode change.


def settings_for(cfg, mode, conversation_id=None):
    if cfg["cloud"] == "qwen":
        return {
            "base_url": cfg["base_url"],
            "mode": mode,
            "voice": cfg["voice_id"] or None,
            "silence_duration_ms": cfg["silence_duration_ms"],
            "codec_in": cfg["codec"],
            "in_rate": cfg["in_rate"],
            "in_frame_ms": 20,
        }
    settings = {
        "bot_id": cfg["bot_id"],
        "base_url": cfg["base_url"],
        "mode": mode,
        "codec_in": cfg["codec"],
        "codec_out": cfg["codec"],
        "in_rate": cfg["in_rate"],
        "out_rate": cfg["out_rate"],
        "in_frame_ms": 20,
        "speech_rate": cfg["speech_rate"],
        "silence_duration_ms": cfg["silence_duration_ms"],
    }
    for key in ("device_id", "voice_id"):
        if cfg[key]:
            settings[key] = cfg[key]
    if conversation_id:
        settings["conversation_id"] = conversation_id
    return settings


def make_session(cfg, mode, conversation_id=None, log=None):
    if cfg["cloud"] == "qwen":
        from cloud.qwen_omni import QwenOmni

        return QwenOmni(settings_for(cfg, mode), log)
    from cloud.coze_chat import CozeChat

    return CozeChat(settings_for(cfg, mode, conversation_id), log)


_ENVELOPE = 1024  # JSON around the base64 of one audio message (ids, chat_id, detail.logid)
_MIN_RX = 12288  # text events fit too: an answer's message.completed runs to a few KB
_UNPACED_RX = 32768  # servers that burst whole sentences: the coze-go capture's are ~20 KB
_PACED_FRAME_MS = 50  # what chat.update asks for by default (output_audio.pcm_config)


def receive_buffer_bytes(cfg):
    """The WebSocket receive buffer: config's rx_buffer_bytes, else sized from the paced output
    frame the session asks for (a larger message is refused with 1009 and a hint to raise it)."""
    if cfg.get("rx_buffer_bytes"):
        return cfg["rx_buffer_bytes"]
    if cfg["cloud"] != "coze":
        return _UNPACED_RX  # Qwen-Omni has no pacing to ask for
    audio = cfg["out_rate"] * _PACED_FRAME_MS // 1000
    if cfg["codec"] == "pcm":
        audio *= 2
    message = (audio + 2) // 3 * 4 + _ENVELOPE
    return max(_MIN_RX, (message + 1023) // 1024 * 1024)
