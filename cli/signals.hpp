// SPDX-License-Identifier: Apache-2.0
// Stopping long runs cleanly on SIGINT, SIGTERM and SIGHUP: the signature under way finishes,
// what was signed is recorded, and the command says what it did not do.
#pragma once

#include <atomic>
#include <stdexcept>
#include <string>

namespace ts::cli {

/// While alive, the first SIGINT, SIGTERM or SIGHUP only sets flag() to its number (and says on
/// stderr that the run is stopping); a second one acts as the default and ends the process at
/// once. System calls that the signal interrupts return EINTR (no SA_RESTART), so a prompt
/// waiting on the terminal is answered "no". Restores the previous handlers when destroyed.
class StopOnSignal {
  public:
    StopOnSignal();
    ~StopOnSignal();
    StopOnSignal(const StopOnSignal&) = delete;
    StopOnSignal& operator=(const StopOnSignal&) = delete;
    /// The signal received, 0 while none was.
    static const std::atomic<int>& flag() noexcept;
    /// Throws Interrupted when a signal was received.
    static void check(const std::string& what_was_done);
};

/// A run stopped by a signal; main() exits with 128 + signal, as a shell reports it.
class Interrupted : public std::runtime_error {
  public:
    Interrupted(int signal, const std::string& what) : std::runtime_error(what), m_signal(signal) {}
    int signal() const noexcept { return m_signal; }

  private:
    int m_signal;
};

/// A command-line mistake found after parsing (an output path that cannot be written, two
/// options that exclude each other): exit code 2.
class UsageError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

}  // namespace ts::cli
