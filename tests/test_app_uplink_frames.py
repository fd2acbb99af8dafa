"""Every uplink frame the app can produce fits its session's append buffer.

A resampled mic frame is not always the nominal size (16 -> 24 kHz gives 480 or 481 samples per
20 ms); a session buffer sized for exactly 480 crashed the uplink task intermittently."""

import config
import pytest
from app.cloud_session import make_session

from audio.pcm import Resampler

MIC_RATE = 16000
FRAME = MIC_RATE * 20 // 1000


@pytest.mark.parametrize("cloud,in_rate", [("coze", 8000), ("coze", 24000), ("qwen", 16000)])
def test_resampled_frames_fit_the_append_buffer(cloud, in_rate):
    raw = {"wifi_ssid": "w", "token": "t", "board": "esp32s3_inmp441", "cloud": cloud,
           "in_rate": in_rate}
    if cloud == "coze":
        raw["bot_id"] = "7400000000000000000"
    cfg = config.validate(raw)
    session = make_session(cfg, "ptt")
    resampler = Resampler(MIC_RATE, in_rate)
    pcm = bytearray(2 * FRAME)
    out = bytearray(2 * resampler.max_out(FRAME))
    sizes = set()
    for _ in range(300):  # six seconds of frames: every phase of the resampler comes round
        n = 2 * resampler.process(pcm, FRAME, out)
        sizes.add(n)
        buf, length = session.audio_frame(out, n)
        assert length > n
    if in_rate == 24000:  # the case that crashed: longer-than-nominal frames really occur
        assert max(sizes) > 2 * in_rate * 20 // 1000
