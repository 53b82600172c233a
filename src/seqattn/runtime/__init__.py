"""Where a run computes: the device mesh and processes, the process's allocator."""
