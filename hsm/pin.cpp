// SPDX-License-Identifier: Apache-2.0
#include "hsm/pin.hpp"

#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

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
                           std::to_string(kMaxPinFile) + " bytes; it does not look like a PIN file");
        }
    }
    ::close(fd);
    buf.resize(len);
    strip_newline(buf);
    if (buf.empty()) throw PinError("pin-source '" + path + "' is empty");
    return Pin(std::move(buf));
}

Pin prompt_pin(std::string_view prompt) {
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
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0 || c == '\n') break;
        if (buf.size() < 255) buf.push_back(static_cast<unsigned char>(c));
    }
    c = 0;
    if (restore) tcsetattr(fd, TCSAFLUSH, &old);
    ::close(fd);
    strip_newline(buf);
    if (buf.empty()) throw PinError("no PIN was entered");
    return Pin(std::move(buf));
}

Pin obtain_pin(const PinSources& s, std::string_view what) {
    if (s.pin_value && !s.pin_value->empty()) return s.pin_value->clone();
    if (!s.uri_pin_source.empty()) return read_pin_source(s.uri_pin_source);
    if (!s.option_pin_source.empty()) return read_pin_source(s.option_pin_source);
    if (s.use_env) {
        if (const char* env = std::getenv("TOKENSIGN_PIN"); env && *env) return Pin::from(env);
    }
    if (s.allow_prompt) return prompt_pin("Enter PIN for " + std::string(what) + ": ");
    throw PinError("no PIN for " + std::string(what) +
                   ": give pin-source in the URI, --pin-source FILE, or TOKENSIGN_PIN");
}

}  // namespace ts::hsm
