# The hardware API check (tools/hwcheck.py) must fail on what real hardware would reject: a wrong
# I2S keyword, a misspelt Pin mode, a WLAN typo, also inside a board's build(machine).
import os
import shutil
import textwrap

import pytest

from tools import hwcheck

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

GOOD_BOARD = """
from boards import rx_ibuf

def build(machine):
    Pin = machine.Pin
    mic = machine.I2S(0, sck=Pin(5), ws=Pin(4), sd=Pin(6), mode=machine.I2S.RX, bits=32,
                      format=machine.I2S.MONO, rate=16000, ibuf=rx_ibuf())
    return {"mic_i2s": mic, "button": Pin(0, Pin.IN, Pin.PULL_UP)}
"""


def _tree(tmp_path, files):
    (tmp_path / "boards").mkdir()
    shutil.copy(os.path.join(ROOT, "boards", "__init__.py"), tmp_path / "boards" / "__init__.py")
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return str(tmp_path)


def test_a_correct_board_passes(tmp_path):
    root = _tree(tmp_path, {"boards/good.py": GOOD_BOARD})
    files, hard, _ = hwcheck.check(root)
    assert "boards/good.py" in files
    assert hard == []


@pytest.mark.parametrize(
    "mistake, expect",
    [
        (("sd=Pin(6)", "sdin=Pin(6)"), 'Unexpected keyword argument "sdin" for "I2S"'),
        (("Pin.PULL_UP", "Pin.PULLUP"), 'has no attribute "PULLUP"'),
        (("machine.I2S.RX", "machine.I2S.RECEIVE"), 'has no attribute "RECEIVE"'),
        (("ibuf=rx_ibuf()", "ibuf=rx_ibuf(), dma=4"), 'Unexpected keyword argument "dma"'),
    ],
)
def test_a_board_with_a_hardware_mistake_fails(tmp_path, mistake, expect):
    root = _tree(tmp_path, {"boards/bad.py": GOOD_BOARD.replace(*mistake)})
    _, hard, _ = hwcheck.check(root)
    assert any(expect in entry and entry.startswith("boards/bad.py:") for entry in hard), hard


def test_firmware_style_imports_are_checked(tmp_path):
    root = _tree(tmp_path, {"firmware/net.py": """
        import network
        from machine import I2S, Pin

        def up():
            wlan = network.WLAN(network.STA_IF)
            wlan.conect("ssid", "pw")
            return Pin(2, Pin.OUTPUT)
        """})
    _, hard, _ = hwcheck.check(root)
    text = "\n".join(hard)
    assert '"WLAN" has no attribute "conect"' in text
    assert 'has no attribute "OUTPUT"' in text
