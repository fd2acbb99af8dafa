# downlink_peak_heap_by_message_size in an interpreter of its own, on the unix port (its GC runs
# when asked; see tools/bench/bench_stream.py).
import bench_pipeline


async def test_downlink_peak_heap_by_message_size():
    await bench_pipeline.downlink_by_message_size_rows()
