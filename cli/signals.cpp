// SPDX-License-Identifier: Apache-2.0
#include "cli/signals.hpp"

#include <signal.h>
#include <unistd.h>

#include <cstring>

namespace ts::cli {

namespace {

std::atomic<int> g_signal{0};
struct sigaction g_old[3];
constexpr int kSignals[3] = {SIGINT, SIGTERM, SIGHUP};

extern "C" void on_stop_signal(int sig) {
    // Async-signal-safe only: an atomic store and write(2). SA_RESETHAND made the next one
    // default, so a second Ctrl-C ends the process at once.
    if (g_signal.exchange(sig) == 0) {
        static const char msg[] =
            "\ntokensign: stopping after the signature under way; what was signed is recorded "
            "(signal again to abort at once)\n";
        (void)!::write(2, msg, sizeof msg - 1);
    }
}

}  // namespace

StopOnSignal::StopOnSignal() {
    struct sigaction sa;
    std::memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = static_cast<int>(SA_RESETHAND);
    for (int i = 0; i < 3; ++i) ::sigaction(kSignals[i], &sa, &g_old[i]);
}

StopOnSignal::~StopOnSignal() {
    for (int i = 0; i < 3; ++i) ::sigaction(kSignals[i], &g_old[i], nullptr);
}

const std::atomic<int>& StopOnSignal::flag() noexcept { return g_signal; }

void StopOnSignal::check(const std::string& what_was_done) {
    if (int sig = g_signal.load(); sig != 0)
        throw Interrupted(sig,
                          std::string("interrupted by ") + ::strsignal(sig) + ": " + what_was_done);
}

}  // namespace ts::cli
