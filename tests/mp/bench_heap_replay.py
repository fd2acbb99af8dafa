# replay_peak_heap_bytes in an interpreter of its own (see bench_heap_default.py).
import bench_pipeline


async def test_replay_peak_heap():
    await bench_pipeline.replay_peak_heap_row()
