// SPDX-License-Identifier: Apache-2.0
// The confirmation prompt of destructive commands: on the terminal, never on stdin.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "cli/admin.hpp"
#include "signer/error.hpp"

namespace ts::cli {

void confirm_typed(const std::string& question, const std::string& expected,
                   const std::string& script_hint) {
    // stdin may be a pipe carrying data (a CSR, a PIN file): the answer must come from the
    // person at the terminal.
    int fd = ::open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        throw signer::Declined("not confirmed: there is no terminal to ask on; a script gives " +
                               script_hint + "; nothing was changed");
    (void)!::write(fd, question.data(), question.size());
    std::string answer;
    char c;
    for (;;) {
        ssize_t n = ::read(fd, &c, 1);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0 || c == '\n') break;
        if (answer.size() < 1024) answer += c;
    }
    ::close(fd);
    if (!answer.empty() && answer.back() == '\r') answer.pop_back();
    if (answer != expected)
        throw signer::Declined("not confirmed (the answer was not '" + expected +
                               "'); nothing was changed");
}

}  // namespace ts::cli
