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
