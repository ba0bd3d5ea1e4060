// SPDX-License-Identifier: Apache-2.0
#include "cli/outputs.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <set>
#include <stdexcept>

#include "cli/signals.hpp"

namespace fs = std::filesystem;

namespace ts::cli {

namespace {

std::string errno_text(int e) { return std::strerror(e); }

std::string parent_of(const std::string& path) {
    fs::path p(path);
    return p.has_parent_path() ? p.parent_path().string() : std::string(".");
}

// Why a new file cannot be made in `dir`, in words that say what to do; "" when it can.
std::string cannot_create_in(const std::string& dir, int e) {
    struct stat st;
    if (::stat(dir.c_str(), &st) != 0)
        return "the directory " + dir + " does not exist; create it first or name another path";
    if (!S_ISDIR(st.st_mode)) return dir + " is not a directory";
    if (e == EROFS) return "the directory " + dir + " is on a read-only filesystem";
    if (e == EACCES || e == EPERM) return "the directory " + dir + " is not writable by this user";
    if (e == ENOSPC || e == EDQUOT) return "no space is left for a new file in " + dir;
    return "cannot create a file in " + dir + ": " + errno_text(e);
}

}  // namespace

std::string hidden_temp_path(const std::string& path) {
    fs::path p(path);
    std::string name = "." + p.filename().string() + ".tmp." + std::to_string(::getpid());
    return p.has_parent_path() ? (p.parent_path() / name).string() : name;
}

OutputFile::OutputFile(std::string path, bool force, std::string option)
    : m_path(std::move(path)), m_option(std::move(option)), m_force(force) {
    if (m_path == "-") return;
    struct stat st;
    if (::stat(m_path.c_str(), &st) == 0) {
        if (S_ISDIR(st.st_mode))
            throw UsageError(m_option + " " + m_path + " is a directory; name a file");
        if (!S_ISREG(st.st_mode)) {
            m_in_place = true;  // a device or FIFO: written to, never replaced
            return;
        }
        if (!m_force)
            throw UsageError(m_option + " " + m_path +
                             " already exists; not overwriting it (name a new file, or add "
                             "--force to replace it)");
    }
    std::string tmp = hidden_temp_path(m_path);
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        throw UsageError(m_option + " " + m_path + ": " +
                         cannot_create_in(parent_of(m_path), errno));
    ::close(fd);
    m_tmp = tmp;
}

OutputFile::OutputFile(OutputFile&& o) noexcept
    : m_path(std::move(o.m_path)),
      m_option(std::move(o.m_option)),
      m_tmp(std::move(o.m_tmp)),
      m_force(o.m_force),
      m_in_place(o.m_in_place) {
    o.m_tmp.clear();
}

OutputFile::~OutputFile() {
    if (!m_tmp.empty()) ::unlink(m_tmp.c_str());
}

void OutputFile::write(std::string_view contents, bool durable) {
    if (m_path == "-") {
        std::cout << contents << std::flush;
        if (!std::cout) throw std::runtime_error("cannot write to standard output");
        return;
    }
    const std::string& target = m_in_place ? m_path : m_tmp;
    int fd = ::open(target.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (fd < 0) throw std::runtime_error("cannot write " + m_path + ": " + errno_text(errno));
    int err = 0;
    while (!contents.empty()) {
        ssize_t n = ::write(fd, contents.data(), contents.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            err = errno;
            break;
        }
        contents.remove_prefix(static_cast<std::size_t>(n));
    }
    if (err == 0 && durable && !m_in_place && ::fsync(fd) != 0) err = errno;
    if (::close(fd) != 0 && err == 0) err = errno;
    if (err != 0) throw std::runtime_error("cannot write " + m_path + ": " + errno_text(err));
    if (m_in_place) return;
    // Without --force, a file that appeared at the path since the check is not replaced.
    int rc = m_force
                 ? ::rename(m_tmp.c_str(), m_path.c_str())
                 : ::renameat2(AT_FDCWD, m_tmp.c_str(), AT_FDCWD, m_path.c_str(), RENAME_NOREPLACE);
    if (rc != 0)
        throw std::runtime_error("cannot move the new file into place at " + m_path + ": " +
                                 errno_text(errno) + " (its contents are in " + m_tmp + ")");
    m_tmp.clear();
}

void check_output_dir(const std::string& dir, const std::vector<std::string>& paths, bool force) {
    struct stat st;
    if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
        throw UsageError("--out-dir " + dir + " is not an existing directory; create it first");
    std::string probe = hidden_temp_path((fs::path(dir) / "probe").string());
    int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) throw UsageError("--out-dir " + dir + ": " + cannot_create_in(dir, errno));
    ::close(fd);
    ::unlink(probe.c_str());
    std::set<std::string> seen;
    for (const auto& p : paths) {
        if (!seen.insert(p).second)
            throw UsageError("two CSRs would both be written to " + p + "; rename one of them");
        if (!force && ::lstat(p.c_str(), &st) == 0)
            throw UsageError(p +
                             " already exists; not overwriting it (add --force to replace "
                             "it)");
    }
}

}  // namespace ts::cli
