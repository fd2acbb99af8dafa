# The device's config.json <-> the configured cloud's protocol session.
#
# One session lives as long as the app: a reconnect starts its reply lifecycle afresh
# (session.on_open()) and a mode or voice change reconfigures it (session.reconfigure()); its
# conversation id (session.reply) goes into every chat.update, so the bot's memory of the talk
# survives a dropped link and a mode change.
# check(cfg) is config.validate()'s last step: it builds the very session the app builds, so a
# config that validates cannot fail while the app starts (that crash-loops the board into safe
# mode), and a setting the session refuses is reported under its config.json key.
from cloud.errors import ConfigError

# config.json key -> session setting, per cloud ("" / [] values are not passed on: the cloud's
# default applies). One string of pairs: small on the heap, and read only at start-up.
_COZE = ("bot_id bot_id base_url base_url mode mode codec codec_in codec codec_out in_rate "
         "in_rate out_rate out_rate speech_rate speech_rate voice_id voice_id "
         "silence_duration_ms silence_duration_ms prefix_padding_ms prefix_padding_ms "
         "device_id device_id user_id user_id hot_words asr_hot_words user_language "
         "asr_language")
_QWEN = ("base_url base_url mode mode codec codec_in in_rate in_rate voice_id voice "
         "instructions instructions silence_duration_ms silence_duration_ms vad_threshold "
         "vad_threshold smooth_output smooth_output")
# What a refusal names where it is not a config key with a "_" in it: (text in the error, key).
_NAMED = (("conversation_id", "conversation_id"), ("instructions", "instructions"),
          ("output_audio", "out_rate"), ("sample_rate", "in_rate"), ("session.voice",
          "voice_id"), ("threshold", "vad_threshold"), ("codec", "codec"))


def _pairs(cloud):
    words = (_QWEN if cloud == "qwen" else _COZE).split()
    return [(words[i], words[i + 1]) for i in range(0, len(words), 2)]


def settings_for(cfg, mode=None):
    settings = {"in_frame_ms": 20}
    for key, setting in _pairs(cfg["cloud"]):
        value = cfg.get(key)
        if value is not None and value != "" and value != []:
            settings[setting] = value
    if mode is not None:
        settings["mode"] = mode
    return settings


def make_session(cfg, mode=None, conversation_id=None, log=None):
    """The protocol session for cfg (a ConfigError names the session's setting)."""
    if cfg["cloud"] == "qwen":
        from cloud.qwen_omni import QwenOmni

        return QwenOmni(settings_for(cfg, mode), log)
    from cloud.coze_chat import CozeChat

    settings = settings_for(cfg, mode)
    if conversation_id:
        settings["conversation_id"] = conversation_id  # the session's reply keeps it from here
    return CozeChat(settings, log)


def check(cfg):
    """Raise ConfigError(config.json key) for anything the session would refuse at start-up."""
    try:
        make_session(cfg, log=lambda line: None)
    except ConfigError as exc:
        key = exc.field
        for name, setting in _pairs(cfg["cloud"]):
            if setting == key:
                key = name
        raise ConfigError(key, exc.problem, "config.json") from None


def live_changes(cfg, changes):
    """config.json keys -> the session's settings, for a change at run time (the voice tool)."""
    out = {}
    pairs = _pairs(cfg["cloud"])
    for key in changes:
        setting = [s for k, s in pairs if k == key]
        if not setting:
            raise ConfigError(key, "is not a setting of the %s cloud" % cfg["cloud"])
        out[setting[0]] = changes[key]
    return out


def refused_field(cloud, event):
    """The config.json key a cloud error names (Qwen's error.param, else the message text),
    or None. The longest key found wins ("silence_duration_ms" over a shorter one)."""
    text = event.param or event.msg or ""
    found = None
    for key, _ in _pairs(cloud):
        if "_" in key and key in text and (found is None or len(key) > len(found)):
            found = key
    if found is None:
        for name, key in _NAMED:
            if name in text:
                return key
    return found
