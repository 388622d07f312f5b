// SIGINT and SIGTERM ask long work to stop at the next safe point (a training
// step's end, where it checkpoints) instead of killing it mid-write.
#pragma once

namespace ilm {

void install_stop_signals();
bool stop_requested();
int stop_signal();  // the signal received, 0 if none
void clear_stop_request();

}  // namespace ilm
