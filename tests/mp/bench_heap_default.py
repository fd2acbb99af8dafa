# default_config_peak_heap_bytes in an interpreter of its own: rows measured after other
# benchmarks would count what those leave behind (their module code, caches, and the ~30 bytes
# each top-level await keeps on this port until V8 collects).
import bench_pipeline


async def test_default_config_peak_heap():
    await bench_pipeline.default_config_peak_heap_row()
