"""The fake cloud's server VAD: frame energy against a threshold, with start and hang-over.

Speech starts after `start_ms` of consecutive loud 20 ms windows and stops after `silence_ms` of
consecutive quiet ones, like the `silence_duration_ms` the Coze / Qwen turn detection takes. Input
chunks of any size are accepted; a partial window waits for the next chunk.
"""

import numpy as np

from tools.cloud.audio import rms_dbfs

_WINDOW_MS = 20


class EnergyVad:
    def __init__(self, rate, threshold_dbfs=-40.0, silence_ms=500, start_ms=60):
        self.window = max(1, rate * _WINDOW_MS // 1000)
        self.threshold = threshold_dbfs
        self.start_windows = max(1, start_ms // _WINDOW_MS)
        self.stop_windows = max(1, silence_ms // _WINDOW_MS)
        self.reset()

    def reset(self):
        self.speaking = False
        self._run = 0
        self._pending = np.zeros(0, dtype=np.int16)
        self.windows = 0  # windows analysed since the start: the VAD's own clock

    def feed(self, samples):
        """Analyse more int16 samples; returns the edges found, each "start" or "stop"."""
        data = np.concatenate((self._pending, np.asarray(samples, dtype=np.int16)))
        edges = []
        whole = len(data) // self.window * self.window
        for i in range(0, whole, self.window):
            self.windows += 1
            loud = rms_dbfs(data[i:i + self.window]) >= self.threshold
            if loud != self.speaking:
                self._run += 1
                if self._run >= (self.stop_windows if self.speaking else self.start_windows):
                    self.speaking = loud
                    self._run = 0
                    edges.append("start" if loud else "stop")
            else:
                self._run = 0
        self._pending = data[whole:]
        return edges
