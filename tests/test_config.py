"""firmware/config.py on CPython: the bad-config corpus, defaults, and that secrets never leak."""

import json
import os

import config
import pytest
from config import ConfigError

HERE = os.path.dirname(os.path.abspath(__file__))
BAD = os.path.join(HERE, "data", "bad_configs")
GOOD = os.path.join(HERE, "data", "good_config.json")
CORPUS = sorted(n[:-5] for n in os.listdir(BAD) if n.endswith(".json"))


def good():
    with open(GOOD) as f:
        return json.load(f)


SECRET_VALUES = (good()["token"], good()["wifi_password"])


def glob_match(pattern, text):
    # '*' matches any run of characters: the parts of a message that legitimately differ
    # (CPython's vs MicroPython's JSON error text, the list of boards).
    parts = pattern.split("*")
    if not text.startswith(parts[0]):
        return False
    pos = len(parts[0])
    for part in parts[1:-1]:
        found = text.find(part, pos)
        if found < 0:
            return False
        pos = found + len(part)
    if len(parts) == 1:
        return pos == len(text)
    return text[pos:].endswith(parts[-1])


def test_corpus_is_complete():
    assert len(CORPUS) >= 30
    for name in CORPUS:
        assert os.path.exists(os.path.join(BAD, name + ".txt")), name


@pytest.mark.parametrize("name", CORPUS)
def test_bad_config_gives_its_one_line(name):
    with open(os.path.join(BAD, name + ".txt")) as f:
        expected = f.read().strip()
    with pytest.raises(ConfigError) as info:
        config.load(os.path.join(BAD, name + ".json"))
    line = str(info.value)
    assert "\n" not in line
    assert glob_match(expected, line), line
    for secret in SECRET_VALUES:
        assert secret not in line
        assert secret not in repr(info.value)


def test_error_names_the_key():
    with pytest.raises(ConfigError) as info:
        config.validate(dict(good(), volume=101))
    assert info.value.key == "volume"
    assert str(info.value).startswith("config.json: volume: ")


def test_glob_match_itself():
    assert glob_match("a*c", "abbbc")
    assert not glob_match("a*c", "abbbd")
    assert glob_match("abc", "abc")
    assert not glob_match("abc", "abcd")


def test_defaults_filled():
    cfg = config.validate(good())
    assert set(cfg) == set(config.DEFAULTS)
    assert cfg["base_url"] == "wss://ws.coze.cn"
    assert (cfg["mode"], cfg["codec"], cfg["in_rate"], cfg["out_rate"]) == ("ptt", "pcm",
                                                                           16000, 16000)
    assert cfg["min_press_ms"] == 200 and cfg["long_press_ms"] == 3000
    assert cfg["echo"] == "aware" and cfg["mic_agc"] is True
    assert cfg["mic_gate_while_speaking"] is None


def test_mic_gate_while_speaking_is_an_alias_of_echo():
    # Config files written before `echo` existed still load, meaning what they meant.
    assert config.validate(dict(good(), mic_gate_while_speaking=True))["echo"] == "gate"
    assert config.validate(dict(good(), mic_gate_while_speaking=False))["echo"] == "off"
    for mode in ("aware", "gate", "off"):
        assert config.validate(dict(good(), echo=mode))["echo"] == mode


def test_validate_does_not_modify_input():
    raw = good()
    before = dict(raw)
    config.validate(raw)
    assert raw == before


def test_g711_rates_follow_codec_unless_set():
    cfg = config.validate(dict(good(), codec="g711u"))
    assert cfg["in_rate"] == cfg["out_rate"] == 8000
    cfg = config.validate(dict(good(), codec="g711a", in_rate=8000, out_rate=8000))
    assert cfg["in_rate"] == 8000


def test_qwen_defaults_and_no_bot_id():
    raw = good()
    del raw["bot_id"]
    cfg = config.validate(dict(raw, cloud="qwen"))
    assert cfg["base_url"].startswith("wss://dashscope.aliyuncs.com/")


def test_comment_keys_ignored_and_local_url_allowed():
    cfg = config.validate(dict(good(), _comment="kitchen unit", base_url="ws://127.0.0.1:8765"))
    assert "_comment" not in cfg
    assert cfg["base_url"] == "ws://127.0.0.1:8765"


def test_missing_file_says_how_to_create(tmp_path):
    with pytest.raises(ConfigError) as info:
        config.load(str(tmp_path / "config.json"))
    line = str(info.value)
    assert "not found" in line and "make configure" in line and "config.example.json" in line


def test_redacted_hides_secrets_only():
    cfg = config.validate(good())
    safe = config.redacted(cfg)
    assert safe["token"] == "<redacted>" and safe["wifi_password"] == "<redacted>"
    assert safe["wifi_ssid"] == "home"
    assert cfg["token"] == good()["token"]  # the original is untouched
    text = json.dumps(safe)
    for secret in SECRET_VALUES:
        assert secret not in text
    # An open network has no password to hide; "" stays "".
    assert config.redacted(dict(cfg, wifi_password=""))["wifi_password"] == ""


def test_example_config_in_docs_is_valid():
    path = os.path.join(os.path.dirname(HERE), "docs", "config.example.json")
    cfg = config.load(path)
    assert cfg["board"] in config.known_boards()


def test_board_list_comes_from_boards_package_or_fallback():
    boards = config.known_boards()
    assert boards and all(isinstance(b, str) for b in boards)
    try:
        from boards import KNOWN
    except ImportError:
        assert boards == config.FALLBACK_BOARDS
    else:
        assert tuple(KNOWN) == boards


# -- one validator for the device and its cloud session (issue 16) ---------------------------


def qwen_config(**extra):
    raw = good()
    del raw["bot_id"]
    return dict(raw, cloud="qwen", **extra)


def test_one_config_error_class_with_a_field():
    from cloud.errors import ConfigError as SessionError

    assert ConfigError is SessionError
    with pytest.raises(ConfigError) as info:
        config.validate(dict(good(), speech_rate=101))
    assert info.value.field == "speech_rate"


@pytest.mark.parametrize("raw, field", [
    (qwen_config(in_rate=24000), "in_rate"),  # accepted, then raised while the app was built
    (qwen_config(out_rate=16000), "out_rate"),  # Qwen answers in 24 kHz pcm24 only
    (qwen_config(vad_threshold=1.5), "vad_threshold"),
    (qwen_config(smooth_output="yes"), "smooth_output"),
    (qwen_config(instructions=5), "instructions"),
    (qwen_config(silence_duration_ms=6001), "silence_duration_ms"),
    (dict(good(), silence_duration_ms=2001), "silence_duration_ms"),  # Coze's range: 200..2000
    (dict(good(), user_language="xx"), "user_language"),
    (dict(good(), hot_words="Coze"), "hot_words"),
    (dict(good(), prefix_padding_ms=-1), "prefix_padding_ms"),
    (dict(good(), user_id=7), "user_id"),
])
def test_what_the_session_refuses_config_refuses_naming_the_config_key(raw, field):
    with pytest.raises(ConfigError) as info:
        config.validate(raw)
    assert info.value.field == field
    assert str(info.value).startswith("config.json: %s: " % field)


@pytest.mark.parametrize("raw", [
    good(), dict(good(), codec="g711a"), dict(good(), codec="g711u", mode="free"),
    dict(good(), out_rate=24000, in_rate=24000), qwen_config(), qwen_config(mode="free"),
    qwen_config(silence_duration_ms=6000, mode="free", vad_threshold=-0.2),
    dict(good(), user_id="u1", hot_words=["x"], user_language="zh", prefix_padding_ms=0),
])
def test_every_config_that_validates_builds_its_session(raw):
    # A config that passes validation must never raise while the app is built (a raise there
    # crash-loops the board into safe mode).
    from app.cloud_session import make_session

    cfg = config.validate(raw)
    session = make_session(cfg)
    assert session.out_rate == cfg["out_rate"]


def test_qwen_settings_reach_session_update():
    import json

    from app.cloud_session import make_session

    cfg = config.validate(qwen_config(mode="free", instructions="You are a kitchen timer.",
                                      voice_id="Ethan", vad_threshold=0.2,
                                      smooth_output=False))
    session = json.loads(make_session(cfg).session_update())["session"]
    assert session["instructions"] == "You are a kitchen timer."
    assert session["voice"] == "Ethan" and session["smooth_output"] is False
    assert session["turn_detection"] == {"type": "server_vad", "threshold": 0.2,
                                         "silence_duration_ms": 800}
    assert session["output_audio_format"] == "pcm24"


def test_silence_and_rates_follow_the_cloud_unless_set():
    cfg = config.validate(qwen_config())
    assert cfg["silence_duration_ms"] == 800  # the service's default, range 200..6000
    assert (cfg["in_rate"], cfg["out_rate"]) == (16000, 24000)  # pcm16 in, pcm24 out
    assert config.validate(qwen_config(silence_duration_ms=5000))["silence_duration_ms"] == 5000
    assert config.validate(good())["silence_duration_ms"] == 500  # Coze's default
