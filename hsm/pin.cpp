// SPDX-License-Identifier: Apache-2.0
#include "hsm/pin.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <map>
#include <mutex>

#include "hsm/error.hpp"

namespace ts::hsm {

namespace {

constexpr std::size_t kMaxPinFile = 4096;  // a PIN file larger than this is not a PIN file

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// RFC 8089: "file:/p", "file:///p", "file://localhost/p"; anything else is a plain path.
std::string source_to_path(std::string_view source) {
    if (source.size() < 5 || strncasecmp(source.data(), "file:", 5) != 0) {
        return std::string(source);
    }
    std::string_view rest = source.substr(5);
    if (rest.starts_with("//")) {
        rest.remove_prefix(2);
        auto slash = rest.find('/');
        std::string_view host = rest.substr(0, slash);
        if (!host.empty() && host != "localhost") {
            throw PinError("pin-source '" + std::string(source) +
                           "' names a remote host; only local files can hold a PIN");
        }
        rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);
    }
    std::string path;
    for (std::size_t i = 0; i < rest.size(); ++i) {
        if (rest[i] == '%' && i + 2 < rest.size()) {
            int hi = hex_value(rest[i + 1]), lo = hex_value(rest[i + 2]);
            if (hi < 0 || lo < 0) {
                throw PinError("pin-source '" + std::string(source) + "' has a bad %-escape");
            }
            path += static_cast<char>(hi * 16 + lo);
            i += 2;
        } else if (rest[i] == '%') {
            throw PinError("pin-source '" + std::string(source) + "' has a bad %-escape");
        } else {
            path += rest[i];
        }
    }
    if (path.empty()) throw PinError("pin-source '" + std::string(source) + "' has no path");
    return path;
}

void strip_newline(SecureBytes& b) {
    if (!b.empty() && b.back() == '\n') b.pop_back();
    if (!b.empty() && b.back() == '\r') b.pop_back();
}

}  // namespace

Pin read_pin_source(std::string_view source) {
    const std::string path = source_to_path(source);
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        throw PinError("cannot read the PIN from pin-source '" + path +
                       "': " + std::strerror(errno));
    }
    // A PIN file others can read is a PIN others know: refused, as ssh refuses such key files.
    // Devices, FIFOs and /dev/fd/N (a PIN handed over by a parent process) are not checked.
    struct stat st;
    if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 077) != 0) {
        ::close(fd);
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
        throw PinError("pin-source '" + path + "' may be read or changed by other users (mode " +
                       mode + "); restrict it with: chmod 600 '" + path + "'");
    }
    SecureBytes buf(kMaxPinFile + 1);
    std::size_t len = 0;
    for (;;) {
        ssize_t n = ::read(fd, buf.data() + len, buf.size() - len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            int err = errno;
            ::close(fd);
            throw PinError("cannot read the PIN from pin-source '" + path +
                           "': " + std::strerror(err));
        }
        if (n == 0) break;
        len += static_cast<std::size_t>(n);
        if (len > kMaxPinFile) {
            ::close(fd);
            throw PinError("pin-source '" + path + "' is larger than " +
                           std::to_string(kMaxPinFile) +
                           " bytes; it does not look like a PIN file");
        }
    }
    ::close(fd);
    buf.resize(len);
    strip_newline(buf);
    if (buf.empty()) throw PinError("pin-source '" + path + "' is empty");
    return Pin(std::move(buf));
}

namespace {

// While a PIN is typed with echo off, a signal must not end the process before the terminal is
// restored (a shell left without echo). They are caught here, interrupt the read (no
// SA_RESTART), and are re-raised once the terminal and the previous handlers are back.
constexpr int kPromptSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
volatile sig_atomic_t g_prompt_signal = 0;
extern "C" void on_prompt_signal(int sig) { g_prompt_signal = sig; }

class PromptSignals {
  public:
    PromptSignals() {
        g_prompt_signal = 0;
        struct sigaction sa;
        std::memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_prompt_signal;
        sigemptyset(&sa.sa_mask);
        for (std::size_t i = 0; i < std::size(kPromptSignals); ++i)
            ::sigaction(kPromptSignals[i], &sa, &m_old[i]);
    }
    /// Puts the previous handlers back and delivers a signal that came meanwhile.
    void restore() {
        if (m_restored) return;
        m_restored = true;
        for (std::size_t i = 0; i < std::size(kPromptSignals); ++i)
            ::sigaction(kPromptSignals[i], &m_old[i], nullptr);
        if (int sig = g_prompt_signal; sig != 0) ::raise(sig);
    }
    ~PromptSignals() { restore(); }

  private:
    struct sigaction m_old[std::size(kPromptSignals)];
    bool m_restored = false;
};

std::mutex g_env_pin_mu;
// Secrets taken out of the environment (TOKENSIGN_PIN, TOKENSIGN_SO_PIN, ...), by name.
std::map<std::string, std::unique_ptr<Pin>, std::less<>> g_env_pins;

}  // namespace

std::optional<Pin> take_environment_secret(const std::string& name) {
    std::lock_guard<std::mutex> l(g_env_pin_mu);
    if (char* env = std::getenv(name.c_str()); env != nullptr) {
        // Out of the environment for good: the bytes are overwritten where the kernel put them
        // (what /proc/PID/environ shows), then the variable is removed, so no child process
        // inherits it.
        std::size_t len = std::strlen(env);
        if (len > 0)
            g_env_pins[name] = std::make_unique<Pin>(Pin::from(std::string_view(env, len)));
        OPENSSL_cleanse(env, len);
        ::unsetenv(name.c_str());
    }
    auto it = g_env_pins.find(name);
    if (it == g_env_pins.end()) return std::nullopt;
    return it->second->clone();
}

bool environment_pin_available() noexcept {
    std::lock_guard<std::mutex> l(g_env_pin_mu);
    const char* env = std::getenv("TOKENSIGN_PIN");
    return (env != nullptr && *env != '\0') || g_env_pins.count("TOKENSIGN_PIN") != 0;
}

void forget_environment_pin() noexcept {
    std::lock_guard<std::mutex> l(g_env_pin_mu);
    g_env_pins.clear();
}

Pin prompt_pin(std::string_view prompt) {
    PromptSignals signals;
    int fd = ::open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        throw PinError(
            "no PIN was given and there is no terminal to ask for one: set pin-source in the URI, "
            "--pin-source FILE, or TOKENSIGN_PIN");
    }
    termios old{};
    bool restore = tcgetattr(fd, &old) == 0;
    if (restore) {
        termios quiet = old;
        quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
        quiet.c_lflag |= ECHONL;
        tcsetattr(fd, TCSAFLUSH, &quiet);
    }
    std::string p(prompt);
    (void)!::write(fd, p.data(), p.size());
    SecureBytes buf;
    buf.reserve(256);  // no reallocation (and so no unwiped copy) for any sane PIN
    char c;
    for (;;) {
        ssize_t n = ::read(fd, &c, 1);
        if (n < 0 && errno == EINTR && g_prompt_signal == 0) continue;
        if (n <= 0 || c == '\n') break;
        if (buf.size() < 255) buf.push_back(static_cast<unsigned char>(c));
    }
    c = 0;
    if (restore) tcsetattr(fd, TCSAFLUSH, &old);
    if (g_prompt_signal != 0) (void)!::write(fd, "\n", 1);
    ::close(fd);
    if (g_prompt_signal != 0) {
        signals.restore();  // the terminal is back: the signal takes its course
        throw PinError("PIN entry interrupted");
    }
    strip_newline(buf);
    if (buf.empty()) throw PinError("no PIN was entered");
    return Pin(std::move(buf));
}

Pin obtain_pin(const PinSources& s, std::string_view what) {
    if (s.pin_value && !s.pin_value->empty()) return s.pin_value->clone();
    if (!s.uri_pin_source.empty()) return read_pin_source(s.uri_pin_source);
    if (!s.option_pin_source.empty()) return read_pin_source(s.option_pin_source);
    if (s.use_env) {
        if (auto pin = take_environment_secret("TOKENSIGN_PIN")) return std::move(*pin);
    }
    if (s.allow_prompt) return prompt_pin("Enter PIN for " + std::string(what) + ": ");
    throw PinError("no PIN for " + std::string(what) +
                   ": give pin-source in the URI, --pin-source FILE, or TOKENSIGN_PIN");
}

}  // namespace ts::hsm
