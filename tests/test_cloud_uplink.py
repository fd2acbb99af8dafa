# Uplink conformance: every message the Coze sessions build validates against the pinned cozepy
# pydantic models with warnings as errors, and model_dump(exclude_none=True) gives back exactly
# what was sent. Also: the hardware guide's chat.update examples are expressible exactly.
import base64
import json
import os
import warnings

import pytest
from cloud.coze_chat import CozeChat
from cloud.coze_speech import CozeSpeech
from cloud.coze_transcriptions import CozeTranscriptions
from cloud.frame import HEADER_ROOM, AppendFrame
from cozepy.websockets.audio import speech as cz_speech
from cozepy.websockets.audio import transcriptions as cz_asr
from cozepy.websockets.chat import (
    ChatUpdateEvent,
    ConversationChatCancelEvent,
    ConversationChatSubmitToolOutputsEvent,
    ConversationClear,
    ConversationMessageCreateEvent,
    InputTextGenerateAudioEvent,
)

MODELS = {
    "chat.update": ChatUpdateEvent,
    "input_audio_buffer.append": cz_asr.InputAudioBufferAppendEvent,
    "input_audio_buffer.complete": cz_asr.InputAudioBufferCompleteEvent,
    "input_audio_buffer.clear": cz_asr.InputAudioBufferClearEvent,
    "conversation.chat.cancel": ConversationChatCancelEvent,
    "conversation.message.create": ConversationMessageCreateEvent,
    "conversation.clear": ConversationClear,
    "conversation.chat.submit_tool_outputs": ConversationChatSubmitToolOutputsEvent,
    "input_text.generate_audio": InputTextGenerateAudioEvent,
    "transcriptions.update": cz_asr.TranscriptionsUpdateEvent,
    "speech.update": cz_speech.SpeechUpdateEvent,
    "input_text_buffer.append": cz_speech.InputTextBufferAppendEvent,
    "input_text_buffer.complete": cz_speech.InputTextBufferCompleteEvent,
}

BOT = {"bot_id": "7496347519799787557"}
SUBSCRIPTIONS_PTT = ["error", "conversation.chat.camplete", "conversation.chat.canceled",
                     "conversation.audio.delta", "conversation.chat.failed"]
SUBSCRIPTIONS_FREE = ["error", "input_audio_buffer.speech_started",
                      "input_audio_buffer.speech_stopped", "conversation.audio.delta",
                      "conversation.chat.failed"]
GUIDE_CHAT_CONFIG = {"auto_save_history": True, "user_id": "xxx", "meta_data": {},
                     "custom_variables": {}, "extra_params": {},
                     "parameters": {"custom_var_1": "测试"}}
GUIDE_SETTINGS = dict(BOT, auto_save_history=True, conversation_id="", user_id="xxx", meta_data={},
                      custom_variables={}, extra_params={}, parameters={"custom_var_1": "测试"},
                      codec_in="pcm", in_rate=24000, in_channels=1, in_bit_depth=16,
                      codec_out="pcm", out_rate=16000, frame_size_ms=50, limit_period_s=1,
                      limit_max_frames=22, speech_rate=0, voice_id="7426720361733046281")
# Transcribed from seeds/coze-hardware-websocket-voice-guide.txt ("输入输出音频都是 PCM"), with
# the comments removed and the empty conversation_id dropped as the guide itself demands.
GUIDE_PCM = {
    "chat_config": GUIDE_CHAT_CONFIG,
    "input_audio": {"format": "pcm", "codec": "pcm", "sample_rate": 24000, "channel": 1,
                    "bit_depth": 16},
    "output_audio": {"codec": "pcm", "pcm_config": {
        "sample_rate": 16000, "frame_size_ms": 50,
        "limit_config": {"period": 1, "max_frame_num": 22}},
        "speech_rate": 0, "voice_id": "7426720361733046281"},
}
# The guide leaves turn_detection out of its push-to-talk example (client_interrupt is the
# default); the device sends it, because the server keeps a field an update leaves out (after
# free talk, server_vad would stay on).
GUIDE_PTT_PCM = dict(GUIDE_PCM, event_subscriptions=SUBSCRIPTIONS_PTT,
                     turn_detection={"type": "client_interrupt"})
GUIDE_FREE_PCM = dict(GUIDE_PCM, event_subscriptions=SUBSCRIPTIONS_FREE,
                      turn_detection={"type": "server_vad"})
# "输入是 PCM，输出是 OPUS", free talk.
GUIDE_FREE_OPUS = dict(GUIDE_FREE_PCM, output_audio={
    "codec": "opus", "opus_config": {
        "bitrate": 48000, "use_cbr": False, "frame_size_ms": 60,
        "limit_config": {"period": 1, "max_frame_num": 17}},
    "speech_rate": 0, "voice_id": "7426720361733046281"})

CHAT_VARIANTS = [
    BOT,
    dict(BOT, mode="free", silence_duration_ms=800, prefix_padding_ms=300, device_id="42"),
    dict(BOT, codec_in="g711a", codec_out="g711u", speech_rate=-50, voice_id="v"),
    dict(BOT, codec_out="opus", opus_bitrate=32000, opus_use_cbr=True, frame_size_ms=20,
         limit_max_frames=0, asr_hot_words=["扣子"], asr_context="ctx", asr_language="zh",
         asr_enable_ddc=False, asr_enable_itn=True, asr_enable_punc=True,
         need_play_prologue=True, prologue_content="你好", conversation_id="7526821722323025972"),
    GUIDE_SETTINGS,
    dict(GUIDE_SETTINGS, mode="free", event_subscriptions=SUBSCRIPTIONS_FREE),
]


def conform(text):
    """Validate one sent message with cozepy; returns (sent dict, cozepy's dump)."""
    sent = json.loads(text)
    model = MODELS[sent["event_type"]]
    given = json.loads(text)
    if sent["event_type"] == "input_audio_buffer.append":
        given["data"]["delta"] = base64.b64decode(sent["data"]["delta"], validate=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dumped = model.model_validate(given).model_dump(exclude_none=True)
    if sent["event_type"] == "input_audio_buffer.append":
        dumped["data"]["delta"] = dumped["data"]["delta"].decode()
    assert dumped == sent
    assert isinstance(sent["id"], str) and sent["id"]
    return sent, dumped


def frame_text(session, pcm):
    buf, n = session.audio_frame(memoryview(pcm), len(pcm))
    return bytes(buf[HEADER_ROOM:HEADER_ROOM + n]).decode()


def all_chat_messages(session):
    out = [session.session_update()]
    # A chat that runs, so cancel() has something to cancel.
    session.feed(json.dumps({"id": "e", "event_type": "conversation.chat.created", "data": {
        "id": "7526821559890198568", "conversation_id": "7526821722323025972"}}))
    out += list(session.end_turn()) + list(session.cancel()) + list(session.send_text("你好"))
    out += [session.clear_input(), session.new_conversation(), session.generate_audio("亲，在吗"),
            session.message_create("assistant", "好的"),
            session.message_create("user", '[{"type":"text","text":"hi"}]', "object_string"),
            session.submit_tool_outputs("7526821559890198568",
                                        [("call_1", "ok"), ("call_2", '{"v": 3}')])]
    out.append(frame_text(session, os.urandom(session.max_frame_bytes())))
    out.append(frame_text(session, os.urandom(1)))
    return out


@pytest.mark.parametrize("settings", CHAT_VARIANTS)
def test_every_chat_message_round_trips_through_cozepy(settings):
    session = CozeChat(settings)
    messages = all_chat_messages(session)
    types = {conform(m)[0]["event_type"] for m in messages}
    expected = {"chat.update", "conversation.chat.cancel", "conversation.message.create",
                "input_audio_buffer.clear", "conversation.clear", "input_text.generate_audio",
                "conversation.chat.submit_tool_outputs", "input_audio_buffer.append"}
    if session.mode == "ptt":
        expected.add("input_audio_buffer.complete")
    assert types == expected
    ids = [json.loads(m)["id"] for m in messages]
    assert len(set(ids)) == len(ids)


def test_transcriptions_and_speech_round_trip():
    asr = CozeTranscriptions({"in_rate": 24000})
    tts = CozeSpeech({"voice_id": "7426720361733046281", "speech_rate": 20, "out_rate": 24000})
    messages = [asr.session_update(), asr.clear_input(), frame_text(asr, os.urandom(960))]
    messages += list(asr.end_turn()) + [tts.session_update()] + list(tts.send_text("今天天气不错"))
    assert [conform(m)[0]["event_type"] for m in messages] == [
        "transcriptions.update", "input_audio_buffer.clear", "input_audio_buffer.append",
        "input_audio_buffer.complete", "speech.update", "input_text_buffer.append",
        "input_text_buffer.complete"]


def test_asr_config_on_transcriptions_follows_the_event_reference():
    # cozepy 0.20 models only input_audio on transcriptions.update; the ASR reference also lists
    # asr_config, so it is sent when asked for (and only then).
    msg = json.loads(CozeTranscriptions({"asr_language": "en", "asr_hot_words": ["Coze"]})
                     .session_update())
    assert msg["data"]["asr_config"] == {"user_language": "en", "hot_words": ["Coze"]}


@pytest.mark.parametrize("settings, expected", [
    (dict(GUIDE_SETTINGS, event_subscriptions=SUBSCRIPTIONS_PTT), GUIDE_PTT_PCM),
    (dict(GUIDE_SETTINGS, mode="free", event_subscriptions=SUBSCRIPTIONS_FREE), GUIDE_FREE_PCM),
    (dict({k: v for k, v in GUIDE_SETTINGS.items() if k != "out_rate"}, mode="free",
          event_subscriptions=SUBSCRIPTIONS_FREE, codec_out="opus", opus_bitrate=48000,
          opus_use_cbr=False, frame_size_ms=60, limit_max_frames=17), GUIDE_FREE_OPUS),
])
def test_hardware_guide_examples_are_expressible_exactly(settings, expected):
    sent, _ = conform(CozeChat(settings).session_update())
    assert sent["data"] == expected


def test_device_defaults_pace_the_server():
    data = json.loads(CozeChat(BOT).session_update())["data"]
    assert data["output_audio"]["pcm_config"] == {
        "sample_rate": 16000, "frame_size_ms": 50,
        "limit_config": {"period": 1, "max_frame_num": 22}}
    assert data["turn_detection"] == {"type": "client_interrupt"}  # sent, not left out
    assert "chat_config" not in data


def test_semantic_vad_is_sent_though_cozepy_020_does_not_know_it():
    # protocol.md lists semantic_vad; cozepy 0.20's TurnDetectionType predates it and warns.
    text = CozeChat(dict(BOT, mode="free", vad_type="semantic_vad")).session_update()
    with pytest.warns(UserWarning, match="TurnDetectionType value: semantic_vad"):
        ChatUpdateEvent.model_validate(json.loads(text))
    assert json.loads(text)["data"]["turn_detection"] == {"type": "semantic_vad"}


def test_url_and_headers():
    session = CozeChat(dict(BOT, device_id=12345, workflow_id="777",
                            base_url="wss://ws.coze.com/"))
    assert session.url() == ("wss://ws.coze.com/v1/chat?bot_id=7496347519799787557"
                             "&workflow_id=777&device_id=12345")
    assert session.headers("pat_secret") == {"Authorization": "Bearer pat_secret"}
    assert CozeSpeech({}).url() == "wss://ws.coze.cn/v1/audio/speech"
    assert CozeTranscriptions({}).url() == "wss://ws.coze.cn/v1/audio/transcriptions"


def test_sent_lines_of_the_captures_are_reproduced(shared_fixtures):
    # The coze-go captures record what the SDK sent (without ids); ours carry the same data.
    def sends(name):
        with open(os.path.join(shared_fixtures, "coze-go", name), encoding="utf-8") as f:
            lines = f.read().split("\n")
        return [json.loads(lines[i + 1]) for i in range(0, len(lines) - 1, 2)
                if lines[i] == "send"]

    def strip(text):
        msg = json.loads(text)
        del msg["id"]
        return msg

    chat = CozeChat(BOT)
    sent = [strip(m) for m in chat.send_text("今天天气真不错")]
    assert sends("websocket_chat_success.txt") == sent
    assert sends("websocket_chat_generate_audio_success.txt") == [
        strip(chat.generate_audio("亲，你怎么不说话了。"))]
    tts = CozeSpeech({})
    sent = [strip(m) for m in tts.send_text("今天天气不错")]
    assert sends("websocket_speech_success.txt") == sent
    append, complete = sends("websocket_transcriptions_success.txt")
    wav = base64.b64decode(append["data"]["delta"])
    asr = CozeTranscriptions({})
    # The capture sends a whole WAV file in one message: build it in a buffer that large.
    asr._frame = AppendFrame(asr.FRAME_PREFIX, asr.FRAME_SUFFIX, len(wav))
    assert strip(frame_text(asr, wav)) == append
    assert [strip(m) for m in asr.end_turn()] == [complete]
