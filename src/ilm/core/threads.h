// Threads: OpenMP everywhere (oneDNN's sgemm runs on the same OpenMP pool).
#pragma once

namespace ilm {

// Sets the number of threads every kernel uses; 0 means all cores.
void set_num_threads(int n);
int num_threads();

}  // namespace ilm
