# default_config_peak_heap_bytes in an interpreter of its own: rows measured after other
# benchmarks would count what their garbage pins (this port's collector scans conservatively).
import bench_pipeline


async def test_default_config_peak_heap():
    await bench_pipeline.default_config_peak_heap_row()
