// SPDX-License-Identifier: Apache-2.0
#include "signer/ca_db.hpp"

#include <fcntl.h>
#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "signer/error.hpp"
#include "signer/issue.hpp"

namespace ts::signer {

namespace {

std::string errno_text() { return std::strerror(errno); }

std::string dir_of(const std::string& path) {
    auto slash = path.find_last_of('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    return path.substr(0, slash);
}

bool exists(const std::string& path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0;
}

std::optional<std::string> slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        if (errno == ENOENT) return std::nullopt;
        throw CaDbError("cannot read " + path + ": " + errno_text());
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void fsync_dir(const std::string& dir) {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) throw CaDbError("cannot open directory " + dir + ": " + errno_text());
    int rc = ::fsync(fd);
    ::close(fd);
    if (rc != 0) throw CaDbError("cannot fsync directory " + dir + ": " + errno_text());
}

void write_all(int fd, std::string_view data, const std::string& path) {
    while (!data.empty()) {
        ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            throw CaDbError("cannot write " + path + ": " + errno_text());
        }
        data.remove_prefix(static_cast<std::size_t>(n));
    }
}

// The serial and crlnumber files hold one hex number (a2i_ASN1_INTEGER's format).
OsslPtr<BIGNUM> read_number_file(const std::string& path, const char* what) {
    auto text = slurp(path);
    if (!text)
        throw CaDbError("the " + std::string(what) + " file " + path +
                        " does not exist; create it with a starting number (e.g. echo 1000 > " +
                        path + ")");
    std::string hex;
    for (char c : *text) {
        if (std::isxdigit(static_cast<unsigned char>(c))) {
            hex += c;
        } else if (c == '\n' || c == '\r' || c == ' ' || c == '\t') {
            if (!hex.empty()) break;
        } else {
            throw CaDbError("the " + std::string(what) + " file " + path +
                            " does not hold a hex number");
        }
    }
    if (hex.empty()) throw CaDbError("the " + std::string(what) + " file " + path + " is empty");
    BIGNUM* bn = nullptr;
    if (BN_hex2bn(&bn, hex.c_str()) == 0) throw OpenSslError("BN_hex2bn");
    return OsslPtr<BIGNUM>(bn);
}

bool is_pid_suffix(std::string_view s) {
    return !s.empty() &&
           std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Temp files a signer left when it died mid-commit. Under the exclusive lock none of them can
// belong to a live signer, and none was ever referred to by index.txt: they go.
// Writes `contents` to the new file `tmp` (fsync'd when `durable`); on any failure `tmp` is
// removed, so no temp file outlives an error.
void write_new_file(const std::string& tmp, std::string_view contents, mode_t mode, bool durable) {
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) throw CaDbError("cannot create " + tmp + ": " + errno_text());
    try {
        // The mode asked for exactly, not as the umask leaves it.
        if (::fchmod(fd, mode) != 0) throw CaDbError("cannot chmod " + tmp + ": " + errno_text());
        write_all(fd, contents, tmp);
        if (durable && ::fsync(fd) != 0)
            throw CaDbError("cannot fsync " + tmp + ": " + errno_text());
    } catch (...) {
        ::close(fd);
        ::unlink(tmp.c_str());
        throw;
    }
    if (::close(fd) != 0) {
        ::unlink(tmp.c_str());
        throw CaDbError("cannot close " + tmp + ": " + errno_text());
    }
}

void remove_stale_temps(const CaDbPaths& p) {
    std::error_code ec;
    auto sweep = [&](const std::string& dir, const std::function<bool(const std::string&)>& ours) {
        if (dir.empty()) return;
        for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
            std::string name = e.path().filename().string();
            if (ours(name)) std::filesystem::remove(e.path(), ec);
        }
    };
    sweep(p.new_certs_dir, [](const std::string& name) {
        auto at = name.find(".pem.tmp.");
        return name.size() > 1 && name[0] == '.' && at != std::string::npos &&
               is_pid_suffix(std::string_view(name).substr(at + 9));
    });
    std::vector<std::string> bases;
    for (const std::string& f :
         {p.database, p.database + ".attr", CaDb::lookup_path(p.database), p.serial, p.crlnumber}) {
        if (f.empty()) continue;
        std::string base = std::filesystem::path(f).filename().string();
        bases.push_back(base + ".tmp.");
        bases.push_back(base + ".old.tmp.");
    }
    sweep(dir_of(p.database), [&](const std::string& name) {
        for (const auto& b : bases)
            if (name.rfind(b, 0) == 0 && is_pid_suffix(std::string_view(name).substr(b.size())))
                return true;
        return false;
    });
}

}  // namespace

std::string IndexEntry::line() const {
    std::string l;
    l += status;
    l += '\t' + expiry + '\t' + revocation + '\t' + serial + '\t' + file + '\t' + subject;
    return l;
}

namespace {

// A date as index.txt holds them, checked without a call into OpenSSL when it is plainly valid
// (digits, Z, fields in range, a day that every month has); anything else is left to
// ASN1_TIME_set_string_X509, the check openssl itself applies.
bool plainly_valid_time(std::string_view t) {
    const std::size_t n = t.size();
    if ((n != 13 && n != 15) || t[n - 1] != 'Z') return false;
    for (std::size_t i = 0; i + 1 < n; ++i)
        if (t[i] < '0' || t[i] > '9') return false;
    auto two = [&](std::size_t at) { return (t[at] - '0') * 10 + (t[at + 1] - '0'); };
    const std::size_t o = n == 15 ? 2 : 0;
    const int year = n == 15 ? two(0) * 100 + two(2) : (two(0) >= 50 ? 1900 : 2000) + two(0);
    if (n == 15 && year < 2050) return false;  // UTCTime's range in X.509: left to OpenSSL
    const int month = two(o + 2), day = two(o + 4);
    if (month < 1 || month > 12 || day < 1) return false;
    static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    const int days = kDays[month - 1] + (month == 2 && leap ? 1 : 0);
    return day <= days && two(o + 6) < 24 && two(o + 8) < 60 && two(o + 10) < 60;
}

bool hex_digit(char c) {
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f');
}

char upper(char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; }

// The six fields of an index line, checked as IndexEntry::parse checks them; `where()` names
// the line in an error (built only then).
template <class Where>
void split_fields(std::string_view line, std::string_view (&f)[6], const Where& where) {
    std::size_t n = 0, start = 0;
    for (;;) {
        auto tab = line.find('\t', start);
        std::string_view field =
            line.substr(start, tab == std::string_view::npos ? line.npos : tab - start);
        if (n < 6) f[n] = field;
        ++n;
        if (tab == std::string_view::npos) break;
        start = tab + 1;
    }
    if (n != 6)
        throw CaDbError(where() + ": expected 6 tab-separated fields, found " + std::to_string(n));
    if (f[0].size() != 1 || (f[0][0] != 'V' && f[0][0] != 'R' && f[0][0] != 'E'))
        throw CaDbError(where() + ": status must be V, R or E, not '" + std::string(f[0]) + "'");
    if (!plainly_valid_time(f[1])) {
        std::string expiry(f[1]);
        if (!ASN1_TIME_set_string_X509(nullptr, expiry.c_str())) {
            ERR_clear_error();
            throw CaDbError(where() + ": invalid expiry date '" + expiry + "'");
        }
    }
    if (f[0][0] == 'R' && f[2].empty())
        throw CaDbError(where() + ": revoked entry without a revocation date");
    std::string_view s = f[3];
    if (!s.empty() && s[0] == '-') s.remove_prefix(1);
    if (s.size() < 2 || s.size() % 2 != 0)
        throw CaDbError(where() + ": bad serial number length (" + std::to_string(s.size()) + ")");
    for (char c : s)
        if (!hex_digit(c))
            throw CaDbError(where() + ": bad serial number character '" + std::string(1, c) + "'");
}

IndexEntry entry_of(const std::string_view (&f)[6]) {
    IndexEntry e;
    e.status = f[0][0];
    e.expiry = f[1];
    e.revocation = f[2];
    e.serial = f[3];
    e.file = f[4];
    e.subject = f[5];
    return e;
}

// serial_key() without an allocation, hashed.
std::uint64_t serial_key_hash(std::string_view hex) {
    const std::string_view original = hex;
    char buf[128];
    std::size_t n = 0;
    bool neg = !hex.empty() && hex[0] == '-';
    if (neg) hex.remove_prefix(1);
    while (hex.size() > 1 && hex[0] == '0') hex.remove_prefix(1);
    if (hex.size() + 1 > sizeof buf) return std::hash<std::string>()(serial_key(original));
    if (neg) buf[n++] = '-';
    for (char c : hex) buf[n++] = upper(c);
    return std::hash<std::string_view>()(std::string_view(buf, n));
}

std::uint64_t subject_hash(std::string_view subject) {
    return std::hash<std::string_view>()(subject);
}

// A table word: the hash's top 24 bits, then a 40-bit offset (a 1 TiB index.txt).
constexpr int kOffsetBits = 40;
std::uint64_t table_word(std::uint64_t hash, off_t offset) {
    return (hash >> kOffsetBits << kOffsetBits) | static_cast<std::uint64_t>(offset);
}

// Buckets by the top 16 bits (one counting pass, one scatter pass): `start[b]` is where
// bucket b begins. A lookup reads one bucket (16 words on average at a million entries).
void bucket_sort(std::vector<std::uint64_t>& v, std::vector<std::size_t>& start) {
    start.assign((std::size_t{1} << 16) + 1, 0);
    for (auto x : v) ++start[(x >> 48) + 1];
    for (std::size_t i = 1; i < start.size(); ++i) start[i] += start[i - 1];
    std::vector<std::size_t> at(start.begin(), start.end() - 1);
    std::vector<std::uint64_t> tmp(v.size());
    for (auto x : v) tmp[at[x >> 48]++] = x;
    v.swap(tmp);
}

// Where each bucket of a table already grouped by bucket_sort starts (a counting pass). False
// when the table is not grouped.
bool bucket_starts(const std::vector<std::uint64_t>& v, std::vector<std::size_t>& start) {
    start.assign((std::size_t{1} << 16) + 1, 0);
    std::uint64_t prev = 0;
    for (auto x : v) {
        if ((x >> 48) < prev) return false;
        prev = x >> 48;
        ++start[(x >> 48) + 1];
    }
    for (std::size_t i = 1; i < start.size(); ++i) start[i] += start[i - 1];
    return true;
}

// The lookup sidecar (<database>.lookup): the two tables of an index.txt prefix, and the
// SHA-256 of exactly the bytes they describe. Little trust is needed in it: it is used only
// when that hash matches index.txt's bytes as read now, and it is only ever replaced whole
// (temp file, rename) with a SHA-256 of its own contents at its end, so a torn or foreign file
// is rebuilt, never believed. Layout (native byte order, which the header records):
//   "TSLOOKUP" | u32 version 1 | u32 0x01020304 | u64 covered bytes | u64 lines | u64 entries |
//   u64 serial words | u64 subject words | 32 bytes SHA-256 of index.txt[0, covered) |
//   serial words | subject words | 32 bytes SHA-256 of everything before it
struct LookupHeader {
    char magic[8];
    std::uint32_t version;
    std::uint32_t byte_order;
    std::uint64_t covered;
    std::uint64_t lines;
    std::uint64_t entries;
    std::uint64_t serial_words;
    std::uint64_t subject_words;
    unsigned char digest[32];
};
static_assert(sizeof(LookupHeader) == 88);
constexpr char kLookupMagic[8] = {'T', 'S', 'L', 'O', 'O', 'K', 'U', 'P'};

OsslPtr<EVP_MD_CTX> sha256_ctx() {
    OsslPtr<EVP_MD_CTX> md(EVP_MD_CTX_new());
    if (!md || EVP_DigestInit_ex(md.get(), EVP_sha256(), nullptr) != 1)
        throw OpenSslError("cannot start SHA-256");
    return md;
}

void sha256_final(EVP_MD_CTX* md, unsigned char (&out)[32]) {
    unsigned int n = 0;
    if (EVP_DigestFinal_ex(md, out, &n) != 1 || n != 32) throw OpenSslError("SHA-256");
}

// The digest so far, `md` left as it is (more may follow).
void sha256_peek(const EVP_MD_CTX* md, unsigned char (&out)[32]) {
    OsslPtr<EVP_MD_CTX> copy(EVP_MD_CTX_new());
    if (!copy || EVP_MD_CTX_copy_ex(copy.get(), md) != 1) throw OpenSslError("SHA-256");
    sha256_final(copy.get(), out);
}

bool read_exact(int fd, void* buf, std::size_t n, off_t at) {
    auto* p = static_cast<char*>(buf);
    while (n > 0) {
        ssize_t got = ::pread(fd, p, n, at);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return false;
        p += got;
        n -= static_cast<std::size_t>(got);
        at += got;
    }
    return true;
}

// Feeds [from, to) of `fd` to `md`. False when the file ends early.
bool hash_range(int fd, off_t from, off_t to, EVP_MD_CTX* md) {
    std::vector<char> buf(1 << 20);
    while (from < to) {
        const std::size_t want =
            static_cast<std::size_t>(std::min<off_t>(static_cast<off_t>(buf.size()), to - from));
        if (!read_exact(fd, buf.data(), want, from)) return false;
        if (EVP_DigestUpdate(md, buf.data(), want) != 1) throw OpenSslError("SHA-256");
        from += static_cast<off_t>(want);
    }
    return true;
}

// The sidecar's last block: the stamp of an index.txt whose first `covered` bytes are the
// sidecar's and whose other bytes are whole lines after them, as tokensign left it (after its
// own read or append, under the lock). Rewritten in place after each append; its own SHA-256
// (over the body's checksum and the fields) makes a torn or stale block fail, never match.
struct LookupStamp {
    std::uint64_t dev, ino, size, mtime_s, mtime_ns, ctime_s, ctime_ns, valid;
    unsigned char sum[32];
};
static_assert(sizeof(LookupStamp) == 96);

LookupStamp stamp_block(const unsigned char (&body_sum)[32], const CaDb::FileStamp* s) {
    LookupStamp b{};
    if (s != nullptr) {
        b.dev = static_cast<std::uint64_t>(s->dev);
        b.ino = static_cast<std::uint64_t>(s->ino);
        b.size = static_cast<std::uint64_t>(s->size);
        b.mtime_s = static_cast<std::uint64_t>(s->mtime.tv_sec);
        b.mtime_ns = static_cast<std::uint64_t>(s->mtime.tv_nsec);
        b.ctime_s = static_cast<std::uint64_t>(s->ctime.tv_sec);
        b.ctime_ns = static_cast<std::uint64_t>(s->ctime.tv_nsec);
        b.valid = 1;
    }
    auto md = sha256_ctx();
    if (EVP_DigestUpdate(md.get(), body_sum, 32) != 1 ||
        EVP_DigestUpdate(md.get(), &b, offsetof(LookupStamp, sum)) != 1)
        throw OpenSslError("SHA-256");
    sha256_final(md.get(), b.sum);
    return b;
}

bool stamp_matches(const LookupStamp& b, const CaDb::FileStamp& s) {
    return b.valid == 1 && s.exists && b.dev == static_cast<std::uint64_t>(s.dev) &&
           b.ino == static_cast<std::uint64_t>(s.ino) &&
           b.size == static_cast<std::uint64_t>(s.size) &&
           b.mtime_s == static_cast<std::uint64_t>(s.mtime.tv_sec) &&
           b.mtime_ns == static_cast<std::uint64_t>(s.mtime.tv_nsec) &&
           b.ctime_s == static_cast<std::uint64_t>(s.ctime.tv_sec) &&
           b.ctime_ns == static_cast<std::uint64_t>(s.ctime.tv_nsec);
}

// The clock file times are taken from (coarse: one kernel tick).
struct timespec coarse_now() {
    struct timespec t {};
    ::clock_gettime(CLOCK_REALTIME_COARSE, &t);
    return t;
}

bool before(const struct timespec& a, const struct timespec& b) {
    return a.tv_sec < b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec < b.tv_nsec);
}

struct LookupFile {
    LookupHeader h{};
    std::vector<std::uint64_t> serial, subject;
    unsigned char body_sum[32] = {};
    LookupStamp stamp{};
    bool stamp_ok = false;  // the stamp block is whole and valid
};

// The sidecar at `path` when it is whole and ours (magic, version, byte order, sizes, its own
// SHA-256); nullopt for anything else (missing, torn, foreign): the caller rebuilds.
std::optional<LookupFile> read_lookup(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) return std::nullopt;
    struct Closer {
        int fd;
        ~Closer() { ::close(fd); }
    } closer{fd};
    struct stat st;
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
    LookupFile f;
    if (!read_exact(fd, &f.h, sizeof f.h, 0)) return std::nullopt;
    if (std::memcmp(f.h.magic, kLookupMagic, 8) != 0 || f.h.version != 1 ||
        f.h.byte_order != 0x01020304u || f.h.serial_words != f.h.entries ||
        f.h.subject_words > f.h.entries || f.h.entries > f.h.covered)
        return std::nullopt;
    const std::uint64_t body = (f.h.serial_words + f.h.subject_words) * 8;
    if (static_cast<std::uint64_t>(st.st_size) != sizeof f.h + body + 32 + sizeof f.stamp)
        return std::nullopt;
    f.serial.resize(f.h.serial_words);
    f.subject.resize(f.h.subject_words);
    unsigned char want[32], have[32];
    if (!read_exact(fd, f.serial.data(), f.serial.size() * 8, sizeof f.h) ||
        !read_exact(fd, f.subject.data(), f.subject.size() * 8,
                    static_cast<off_t>(sizeof f.h + f.serial.size() * 8)) ||
        !read_exact(fd, want, 32, static_cast<off_t>(sizeof f.h + body)))
        return std::nullopt;
    auto md = sha256_ctx();
    if (EVP_DigestUpdate(md.get(), &f.h, sizeof f.h) != 1 ||
        EVP_DigestUpdate(md.get(), f.serial.data(), f.serial.size() * 8) != 1 ||
        EVP_DigestUpdate(md.get(), f.subject.data(), f.subject.size() * 8) != 1)
        throw OpenSslError("SHA-256");
    sha256_final(md.get(), have);
    if (std::memcmp(want, have, 32) != 0) return std::nullopt;
    std::memcpy(f.body_sum, want, 32);
    if (read_exact(fd, &f.stamp, sizeof f.stamp, static_cast<off_t>(sizeof f.h + body + 32))) {
        const LookupStamp recomputed = f.stamp;
        auto smd = sha256_ctx();
        unsigned char ssum[32];
        if (EVP_DigestUpdate(smd.get(), f.body_sum, 32) != 1 ||
            EVP_DigestUpdate(smd.get(), &recomputed, offsetof(LookupStamp, sum)) != 1)
            throw OpenSslError("SHA-256");
        sha256_final(smd.get(), ssum);
        f.stamp_ok = f.stamp.valid == 1 && std::memcmp(ssum, f.stamp.sum, 32) == 0;
    }
    return f;
}

}  // namespace

IndexEntry IndexEntry::parse(std::string_view line, const std::string& where) {
    std::string_view f[6];
    split_fields(line, f, [&] { return where; });
    return entry_of(f);
}

std::string serial_hex(const BIGNUM* bn) {
    if (BN_is_zero(bn)) return "00";
    OsslPtr<char> hex(BN_bn2hex(bn));
    if (!hex) throw OpenSslError("BN_bn2hex");
    return hex.get();
}

std::string serial_hex(const ASN1_INTEGER* ai) {
    OsslPtr<BIGNUM> bn(ASN1_INTEGER_to_BN(ai, nullptr));
    if (!bn) throw OpenSslError("ASN1_INTEGER_to_BN");
    return serial_hex(bn.get());
}

std::string serial_key(std::string_view hex) {
    std::string k;
    bool neg = !hex.empty() && hex[0] == '-';
    if (neg) hex.remove_prefix(1);
    while (hex.size() > 1 && hex[0] == '0') hex.remove_prefix(1);
    if (neg) k += '-';
    for (char c : hex) k += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return k;
}

void sync_filesystem(const std::string& dir) {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) throw CaDbError("cannot open directory " + dir + ": " + errno_text());
    int rc = ::syncfs(fd);
    ::close(fd);
    if (rc != 0) throw CaDbError("cannot sync the filesystem of " + dir + ": " + errno_text());
}

namespace {

// write_atomic with the contents written by `fill(fd, tmp_path)`.
void replace_file(const std::string& path, bool keep_old, mode_t mode, bool durable,
                  const std::function<void(int, const std::string&)>& fill) {
    std::string dir = dir_of(path);
    // Renaming over a device, FIFO or directory would replace it (as root, even /dev/null).
    struct stat st;
    bool existed = ::lstat(path.c_str(), &st) == 0;
    if (existed && !S_ISREG(st.st_mode))
        throw CaDbError(path + " exists and is not a regular file; not replacing it");
    // The replacement keeps the mode the file had (an officer's chmod 600 of index.txt stays),
    // and is never group- or world-writable whatever the umask.
    const mode_t final_mode = (existed ? st.st_mode & 07777 : mode) & ~static_cast<mode_t>(022);
    std::string tmp = path + ".tmp." + std::to_string(::getpid());
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, final_mode);
    if (fd < 0) throw CaDbError("cannot create " + tmp + ": " + errno_text());
    try {
        // The mode asked for exactly, not as the umask leaves it.
        if (::fchmod(fd, final_mode) != 0)
            throw CaDbError("cannot chmod " + tmp + ": " + errno_text());
        fill(fd, tmp);
        if (durable && ::fsync(fd) != 0)
            throw CaDbError("cannot fsync " + tmp + ": " + errno_text());
    } catch (...) {
        ::close(fd);
        ::unlink(tmp.c_str());
        throw;
    }
    if (::close(fd) != 0) {
        ::unlink(tmp.c_str());
        throw CaDbError("cannot close " + tmp + ": " + errno_text());
    }
    if (keep_old && exists(path)) {
        // path.old becomes the current file without a moment where path is missing (openssl
        // renames path to path.old first, which leaves such a moment).
        std::string old = path + ".old";
        std::string old_tmp = old + ".tmp." + std::to_string(::getpid());
        ::unlink(old_tmp.c_str());
        if (::link(path.c_str(), old_tmp.c_str()) != 0 ||
            ::rename(old_tmp.c_str(), old.c_str()) != 0) {
            std::string why = errno_text();
            ::unlink(old_tmp.c_str());
            ::unlink(tmp.c_str());
            throw CaDbError("cannot keep " + old + ": " + why);
        }
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        std::string why = errno_text();
        ::unlink(tmp.c_str());
        throw CaDbError("cannot replace " + path + ": " + why);
    }
    if (durable) fsync_dir(dir);
}

CaDb::FileStamp stamp_of(const std::string& path) {
    CaDb::FileStamp s;
    struct stat st;
    if (path.empty() || ::stat(path.c_str(), &st) != 0) return s;
    s.exists = true;
    s.dev = st.st_dev;
    s.ino = st.st_ino;
    s.size = st.st_size;
    s.mtime = st.st_mtim;
    s.ctime = st.st_ctim;
    return s;
}

}  // namespace

bool CaDb::FileStamp::operator==(const FileStamp& o) const noexcept {
    if (exists != o.exists) return false;
    if (!exists) return true;
    return dev == o.dev && ino == o.ino && size == o.size && mtime.tv_sec == o.mtime.tv_sec &&
           mtime.tv_nsec == o.mtime.tv_nsec && ctime.tv_sec == o.ctime.tv_sec &&
           ctime.tv_nsec == o.ctime.tv_nsec;
}

void write_atomic(const std::string& path, std::string_view contents, bool keep_old, mode_t mode,
                  bool durable) {
    replace_file(path, keep_old, mode, durable,
                 [&](int fd, const std::string& tmp) { write_all(fd, contents, tmp); });
}

CaDb::CaDb(CaDbPaths paths, int lock_fd) : m_paths(std::move(paths)), m_lock_fd(lock_fd) {}

CaDb::~CaDb() {
    for (const auto& [final_path, tmp] : m_prewritten) ::unlink(tmp.c_str());
    // The journal stays: what it holds was signed and is recorded by the next open().
    if (m_journal_fd >= 0) ::close(m_journal_fd);
    if (m_index_fd >= 0) ::close(m_index_fd);
    if (m_lock_fd >= 0) ::close(m_lock_fd);  // closing releases the flock
}

std::string CaDb::journal_path(const std::string& database) { return database + ".journal"; }

std::string CaDb::conflicts_path(const std::string& database) {
    return database + ".journal.conflicts";
}

std::string CaDb::lookup_path(const std::string& database) { return database + ".lookup"; }

void CaDb::write_lookup() const {
    // Only whole lines: a last line without its newline may still grow (a person typing it),
    // and the lines after a sidecar's prefix are read from where it ends.
    if (m_disk_needs_newline || m_index_end != m_disk.size) return;
    if (!m_serial_tail.empty() || !m_subject_tail.empty()) {
        // One table each again: the sidecar's entries and those read after them.
        m_serial_hashes.insert(m_serial_hashes.end(), m_serial_tail.begin(), m_serial_tail.end());
        m_subject_hashes.insert(m_subject_hashes.end(), m_subject_tail.begin(),
                                m_subject_tail.end());
        m_serial_tail.clear();
        m_subject_tail.clear();
        m_main_sorted = false;
        m_tables_sorted = false;
    }
    if (!m_tables_sorted) build_tables();
    if (!m_digest_known) {
        // Tables trusted by the stamp: the bytes are hashed now, for the new sidecar.
        auto all = sha256_ctx();
        if (!hash_range(m_index_fd, 0, m_index_end, all.get()))
            throw CaDbError("cannot read " + m_paths.database);
        sha256_final(all.get(), m_index_digest);
        m_digest_known = true;
    }
    LookupHeader h{};
    std::memcpy(h.magic, kLookupMagic, 8);
    h.version = 1;
    h.byte_order = 0x01020304u;
    h.covered = static_cast<std::uint64_t>(m_index_end);
    h.lines = m_index_lines;
    h.entries = m_file_entries;
    h.serial_words = m_serial_hashes.size();
    h.subject_words = m_subject_hashes.size();
    std::memcpy(h.digest, m_index_digest, 32);
    const std::size_t ser = m_serial_hashes.size() * 8, sub = m_subject_hashes.size() * 8;
    auto md = sha256_ctx();
    unsigned char sum[32];
    if (EVP_DigestUpdate(md.get(), &h, sizeof h) != 1 ||
        EVP_DigestUpdate(md.get(), m_serial_hashes.data(), ser) != 1 ||
        EVP_DigestUpdate(md.get(), m_subject_hashes.data(), sub) != 1)
        throw OpenSslError("SHA-256");
    sha256_final(md.get(), sum);
    // The stamp only when no change of index.txt can have the stamp read at load(): its last
    // change was a clock tick before load() looked.
    const LookupStamp stamp = stamp_block(
        sum, m_disk == m_load_stamp && before(m_load_stamp.ctime, m_load_clock) ? &m_load_stamp
                                                                                : nullptr);
    // Not durable (no fsync): a sidecar a crash tore fails its own hash and is rebuilt. Its mode
    // is index.txt's: it tells as much (hashes of serials and subjects).
    replace_file(
        lookup_path(m_paths.database), false, m_index_mode, false,
        [&](int fd, const std::string& tmp) {
            write_all(fd, std::string_view(reinterpret_cast<const char*>(&h), sizeof h), tmp);
            write_all(fd,
                      std::string_view(reinterpret_cast<const char*>(m_serial_hashes.data()), ser),
                      tmp);
            write_all(fd,
                      std::string_view(reinterpret_cast<const char*>(m_subject_hashes.data()), sub),
                      tmp);
            write_all(fd, std::string_view(reinterpret_cast<const char*>(sum), 32), tmp);
            write_all(fd, std::string_view(reinterpret_cast<const char*>(&stamp), sizeof stamp),
                      tmp);
        });
    std::memcpy(m_lookup_sum, sum, 32);
    m_lookup_stamp_at = static_cast<off_t>(sizeof h + ser + sub + 32);
    m_lookup_on_disk = true;
    m_lookup_written = true;
}

void CaDb::record_lookup_stamp(const FileStamp& s) const {
    if (!m_lookup_on_disk) return;
    const LookupStamp b = stamp_block(m_lookup_sum, &s);
    const std::string path = lookup_path(m_paths.database);
    int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) return;  // only a cache: the next run hashes index.txt instead
    struct stat st;
    if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
        st.st_size == m_lookup_stamp_at + static_cast<off_t>(sizeof b))
        (void)::pwrite(fd, &b, sizeof b, m_lookup_stamp_at);
    ::close(fd);
}

void CaDb::journal(std::string_view certificate_pem) {
    std::lock_guard<std::mutex> l(m_journal_mu);
    const std::string path = journal_path(m_paths.database);
    if (m_journal_fd < 0) {
        m_journal_fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (m_journal_fd < 0)
            throw CaDbError("cannot open the journal " + path + ": " + errno_text());
        m_journal_exists = true;
    }
    // One write(2) per certificate: a kill lands before or after it, and a torn tail (a full
    // disk, a power loss) is a PEM block that does not parse, which recovery stops at.
    write_all(m_journal_fd, certificate_pem, path);
}

void CaDb::recover_journal(bool write) {
    const std::string path = journal_path(m_paths.database);
    auto text = slurp(path);
    if (!text) return;
    m_journal_exists = true;
    OsslPtr<BIO> bio(BIO_new_mem_buf(text->data(), static_cast<int>(text->size())));
    if (!bio) throw OpenSslError("BIO_new_mem_buf");
    std::set<std::string> seen;
    std::string conflicting;
    for (;;) {
        OsslPtr<X509> cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
        if (!cert) break;  // the end, or a record torn by a crash: nothing after it was written
        IndexEntry e = index_entry_for(cert.get());
        if (!seen.insert(serial_key(e.serial)).second) continue;
        std::string file = m_paths.new_certs_dir + "/" + e.serial + ".pem";
        if (const IndexEntry* have = find_serial(e.serial)) {
            // Recorded before the crash (index.txt written, journal not yet removed): the same
            // certificate, and newcerts/ holds it (or nothing). Otherwise another program
            // (openssl ca, which takes no lock) gave this serial to a different certificate
            // after tokensign reserved it: two certificates with one serial exist now.
            bool same = have->subject == e.subject && have->expiry == e.expiry;
            if (same && !m_paths.new_certs_dir.empty()) {
                if (auto theirs = slurp(file))
                    same = theirs->find(certificate_pem(cert.get())) != std::string::npos;
            }
            if (same) continue;
            conflicting += certificate_pem(cert.get());
            m_conflicts.push_back(
                "serial " + e.serial + " was signed by tokensign for " + e.subject +
                ", but another program (openssl ca beside tokensign?) has since recorded it in " +
                m_paths.database + " for " + have->subject + " (expires " + have->expiry +
                "): two certificates carry this serial; tokensign's is kept in " +
                conflicts_path(m_paths.database) + "; revoke one of them");
            continue;
        }
        if (write && !m_paths.new_certs_dir.empty() && !exists(file))
            add_certificate_file(e.serial, certificate_file_text(cert.get()));
        m_recovered.push_back(e.serial);
        add(std::move(e));
    }
    ERR_clear_error();
    if (!write) {
        // A reader shows them (entries() has them) and writes nothing.
        m_index_dirty = m_attr_dirty = false;
        m_journal_exists = false;
        return;
    }
    if (!conflicting.empty()) {
        // Kept before the journal goes: appended, durable.
        const std::string cpath = conflicts_path(m_paths.database);
        int fd = ::open(cpath.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0) throw CaDbError("cannot open " + cpath + ": " + errno_text());
        try {
            write_all(fd, conflicting, cpath);
            if (::fsync(fd) != 0) throw CaDbError("cannot fsync " + cpath + ": " + errno_text());
        } catch (...) {
            ::close(fd);
            throw;
        }
        ::close(fd);
        fsync_dir(dir_of(cpath));
    }
    commit();  // records the recovered certificates and removes the journal
}

std::string CaDb::prewrite_certificate_file(const std::string& new_certs_dir,
                                            const std::string& serial, std::string_view contents) {
    std::string tmp = new_certs_dir + "/." + serial + ".pem.tmp." + std::to_string(::getpid());
    write_new_file(tmp, contents, 0644, false);
    return tmp;
}

void CaDb::add_prewritten_certificate_file(const std::string& serial, std::string temp_path) {
    m_prewritten.emplace_back(m_paths.new_certs_dir + "/" + serial + ".pem", std::move(temp_path));
}

namespace {

// flock(`op` | LOCK_NB) on `fd`, retried until `timeout_ms` has passed; closes `fd` and throws
// CaDbError on failure ("locked by another signer" when it timed out).
void lock_or_throw(int fd, int op, const CaDbPaths& paths, const std::string& lock_path,
                   int timeout_ms) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
        if (::flock(fd, op | LOCK_NB) == 0) return;
        if (errno != EWOULDBLOCK && errno != EINTR) {
            std::string why = errno_text();
            ::close(fd);
            throw CaDbError("cannot lock " + lock_path + (op == LOCK_SH ? " for reading" : "") +
                            ": " + why);
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            ::close(fd);
            throw CaDbError("the CA database " + paths.database +
                            " is locked by another signer (waited " +
                            std::to_string(timeout_ms / 1000) + " s); try again later");
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

}  // namespace

std::unique_ptr<CaDb> CaDb::open(const CaDbPaths& paths, int lock_timeout_ms) {
    if (!exists(paths.database))
        throw CaDbError("the CA database " + paths.database +
                        " does not exist; is this a CA directory (tokensign ca init)?");
    std::string lock_path = paths.database + ".lock";
    int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) throw CaDbError("cannot open the lock file " + lock_path + ": " + errno_text());
    lock_or_throw(fd, LOCK_EX, paths, lock_path, lock_timeout_ms);
    std::unique_ptr<CaDb> db(new CaDb(paths, fd));
    remove_stale_temps(paths);
    db->load(true);
    db->recover_journal(true);
    return db;
}

std::unique_ptr<const CaDb> CaDb::open_read_only(const CaDbPaths& paths, int lock_timeout_ms) {
    if (!exists(paths.database))
        throw CaDbError("the CA database " + paths.database +
                        " does not exist; is this a CA directory (tokensign ca init)?");
    std::string lock_path = paths.database + ".lock";
    // O_RDONLY and no O_CREAT: works on read-only media and never adds a file. flock(2) needs no
    // write access to the file. O_NONBLOCK: a FIFO in its place must not hang the reader.
    int fd = ::open(lock_path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0 && errno != ENOENT && errno != EACCES && errno != EPERM)
        throw CaDbError("cannot open the lock file " + lock_path + ": " + errno_text());
    if (fd >= 0) lock_or_throw(fd, LOCK_SH, paths, lock_path, lock_timeout_ms);
    std::unique_ptr<CaDb> db(new CaDb(paths, fd));
    db->load(false);
    db->recover_journal(false);
    return db;
}

std::size_t CaDb::scan(const std::function<bool(std::string_view, std::size_t, off_t)>& fn,
                       off_t from, std::size_t first_line, EVP_MD_CTX* md) const {
    constexpr std::size_t kChunk = 1 << 20;
    std::vector<char> buf(kChunk);
    std::string carry;  // a line split across two reads
    off_t pos = from, line_start = from;
    std::size_t n = first_line;
    while (pos < m_index_end) {
        const std::size_t want = static_cast<std::size_t>(
            std::min<off_t>(static_cast<off_t>(kChunk), m_index_end - pos));
        ssize_t got = ::pread(m_index_fd, buf.data(), want, pos);
        if (got < 0) {
            if (errno == EINTR) continue;
            throw CaDbError("cannot read " + m_paths.database + ": " + errno_text());
        }
        if (got == 0)
            throw CaDbError("the CA database " + m_paths.database +
                            " became shorter while it was read (changed by another program)");
        if (md != nullptr && EVP_DigestUpdate(md, buf.data(), static_cast<std::size_t>(got)) != 1)
            throw OpenSslError("SHA-256");
        const char* p = buf.data();
        const char* end = p + got;
        const off_t chunk_at = pos;
        pos += got;
        while (p < end) {
            const char* nl =
                static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
            if (nl == nullptr) {
                carry.append(p, end);
                break;
            }
            std::string_view line;
            if (carry.empty()) {
                line = std::string_view(p, static_cast<std::size_t>(nl - p));
            } else {
                carry.append(p, nl);
                line = carry;
            }
            if (!fn(line, ++n, line_start)) return n;
            p = nl + 1;
            line_start = chunk_at + (p - buf.data());
            carry.clear();
        }
    }
    if (!carry.empty()) fn(carry, ++n, line_start);  // the last line, without a newline
    return n;
}

std::string CaDb::line_at(off_t offset) const {
    std::string line;
    char buf[4096];
    off_t at = offset;
    while (at < m_index_end) {
        const std::size_t want = static_cast<std::size_t>(
            std::min<off_t>(static_cast<off_t>(sizeof buf), m_index_end - at));
        ssize_t got = ::pread(m_index_fd, buf, want, at);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) throw CaDbError("cannot read " + m_paths.database + ": " + errno_text());
        const char* nl =
            static_cast<const char*>(std::memchr(buf, '\n', static_cast<std::size_t>(got)));
        if (nl != nullptr) {
            line.append(buf, static_cast<std::size_t>(nl - buf));
            break;
        }
        line.append(buf, static_cast<std::size_t>(got));
        at += got;
    }
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return line;
}

std::vector<off_t> CaDb::candidates(const std::vector<std::uint64_t>& table,
                                    const std::vector<std::size_t>& buckets, std::uint64_t h) {
    const std::uint64_t mask = (std::uint64_t{1} << kOffsetBits) - 1;
    const std::uint64_t want = h & ~mask;
    std::vector<off_t> out;
    if (buckets.empty()) return out;
    for (std::size_t i = buckets[h >> 48]; i < buckets[(h >> 48) + 1]; ++i)
        if ((table[i] & ~mask) == want) out.push_back(static_cast<off_t>(table[i] & mask));
    return out;
}

void CaDb::load(bool write) {
    m_index_fd = ::open(m_paths.database.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (m_index_fd < 0) {
        if (errno == ENOENT)
            throw CaDbError("the CA database " + m_paths.database + " disappeared");
        throw CaDbError("cannot read " + m_paths.database + ": " + errno_text());
    }
    struct stat st;
    m_load_clock = coarse_now();  // before the fstat: a change after it has a later ctime
    if (::fstat(m_index_fd, &st) != 0)
        throw CaDbError("cannot read " + m_paths.database + ": " + errno_text());
    if (!S_ISREG(st.st_mode))
        throw CaDbError("the CA database " + m_paths.database + " is not a regular file");
    // The stamp of exactly the file read (fstat of the open descriptor, not the path again).
    m_disk.exists = true;
    m_disk.dev = st.st_dev;
    m_disk.ino = st.st_ino;
    m_disk.size = st.st_size;
    m_disk.mtime = st.st_mtim;
    m_disk.ctime = st.st_ctim;
    m_load_stamp = m_disk;
    m_index_end = st.st_size;
    // The last line without a newline: openssl ca's TXT_DB_read does not read it. While a
    // journal exists, it is an append a crash cut short (every append happens while the journal
    // holds its certificates): left out, cut off before the next append, and recovered whole
    // from the journal. Without a journal a person wrote it: it is read as an entry (checked
    // like every other line) and ended with a newline before anything is appended.
    off_t last_newline = -1;
    if (m_index_end > 0) {
        char tail[4096];
        off_t at = m_index_end;
        while (at > 0 && last_newline < 0) {
            const off_t from = std::max<off_t>(0, at - static_cast<off_t>(sizeof tail));
            ssize_t got = ::pread(m_index_fd, tail, static_cast<std::size_t>(at - from), from);
            if (got != at - from)
                throw CaDbError("cannot read " + m_paths.database + ": " + errno_text());
            for (ssize_t i = got - 1; i >= 0; --i)
                if (tail[i] == '\n') {
                    last_newline = from + i;
                    break;
                }
            at = from;
        }
    }
    const bool unterminated = m_index_end > 0 && last_newline != m_index_end - 1;
    m_disk_keep = -1;
    m_disk_needs_newline = false;
    if (unterminated) {
        if (exists(journal_path(m_paths.database))) {
            m_index_end = last_newline + 1;
            m_disk_keep = m_index_end;
        } else {
            m_disk_needs_newline = true;
        }
    }
    (void)write;
    m_index_mode = st.st_mode & 07777;
    m_file_entries = 0;
    m_serial_hashes.clear();
    m_subject_hashes.clear();
    m_serial_tail.clear();
    m_subject_tail.clear();
    m_tables_sorted = false;
    m_main_sorted = false;
    if (m_index_end >= (off_t{1} << kOffsetBits))
        throw CaDbError("the CA database " + m_paths.database + " is larger than 1 TiB");
    // The sidecar's tables, when the bytes they were made from are exactly the first bytes of
    // index.txt now: what a tokensign run left, with at most lines appended since (its own
    // appends, a torn line cut back to the journal's record). Anything else (openssl ca rewrote
    // the file, a person edited it, whatever its size and times say) reads the whole file.
    const auto load_start = std::chrono::steady_clock::now();
    auto md = sha256_ctx();
    off_t from = 0;
    std::size_t lines = 0;
    m_lookup_source = LookupSource::full_read;
    m_lookup_on_disk = false;
    m_digest_known = true;
    auto side = read_lookup(lookup_path(m_paths.database));
    if (side && static_cast<off_t>(side->h.covered) <= m_index_end) {
        std::memcpy(m_lookup_sum, side->body_sum, 32);
        m_lookup_stamp_at = static_cast<off_t>(sizeof side->h + side->serial.size() * 8 +
                                               side->subject.size() * 8 + 32);
    }
    if (side && static_cast<off_t>(side->h.covered) <= m_index_end && side->stamp_ok &&
        stamp_matches(side->stamp, m_disk)) {
        // index.txt is the file tokensign left, by its stamp (ctime included, which no touch
        // can set back): the sidecar's prefix, then whole lines read below.
        m_serial_hashes = std::move(side->serial);
        m_subject_hashes = std::move(side->subject);
        m_file_entries = side->h.entries;
        from = static_cast<off_t>(side->h.covered);
        lines = side->h.lines;
        std::memcpy(m_index_digest, side->h.digest, 32);
        m_digest_known = from == m_index_end;
        md.reset();
        m_lookup_source = from == m_index_end ? LookupSource::sidecar_by_stamp
                                              : LookupSource::sidecar_prefix_by_stamp;
        m_lookup_on_disk = true;
    } else if (side && static_cast<off_t>(side->h.covered) <= m_index_end) {
        unsigned char have[32];
        if (hash_range(m_index_fd, 0, static_cast<off_t>(side->h.covered), md.get())) {
            sha256_peek(md.get(), have);
            if (std::memcmp(have, side->h.digest, 32) == 0) {
                m_serial_hashes = std::move(side->serial);
                m_subject_hashes = std::move(side->subject);
                m_file_entries = side->h.entries;
                from = static_cast<off_t>(side->h.covered);
                lines = side->h.lines;
                m_lookup_source =
                    from == m_index_end ? LookupSource::sidecar : LookupSource::sidecar_prefix;
                m_lookup_on_disk = true;
            }
        }
        if (m_lookup_source == LookupSource::full_read) md = sha256_ctx();
    }
    // One pass over the rest (all of it without a sidecar): every line checked, and two 64-bit
    // hashes kept per entry (not the entry).
    const std::size_t before = m_file_entries;
    m_index_lines = scan(
        [&](std::string_view line, std::size_t n, off_t at) {
            if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
            if (line.empty()) return true;
            std::string_view f[6];
            split_fields(line, f, [&] { return m_paths.database + ":" + std::to_string(n); });
            ++m_file_entries;
            // After a sidecar's prefix, in tables of their own: the sidecar's stay grouped.
            auto& serials = from > 0 ? m_serial_tail : m_serial_hashes;
            auto& subjects = from > 0 ? m_subject_tail : m_subject_hashes;
            serials.push_back(table_word(serial_key_hash(f[3]), at));
            if (f[0][0] == 'V') subjects.push_back(table_word(subject_hash(f[5]), at));
            return true;
        },
        from, lines, md.get());
    if (md) sha256_final(md.get(), m_index_digest);
    m_lookup_tail = m_file_entries - before;
    if (std::getenv("TOKENSIGN_TIMING") != nullptr)
        std::fprintf(stderr, "timing: %s: %zu entries, tables %s (%zu entries read), %ld ms\n",
                     m_paths.database.c_str(), m_file_entries,
                     m_lookup_source == LookupSource::full_read ? "from a full read"
                     : m_lookup_source == LookupSource::sidecar ||
                             m_lookup_source == LookupSource::sidecar_prefix
                         ? "from the lookup sidecar, index.txt hashed"
                         : "from the lookup sidecar, by index.txt's stamp",
                     m_lookup_tail,
                     static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                           std::chrono::steady_clock::now() - load_start)
                                           .count()));
    // The sidecar's tables are grouped already: only where the buckets start is counted.
    if (m_lookup_source != LookupSource::full_read)
        m_main_sorted = bucket_starts(m_serial_hashes, m_serial_buckets) &&
                        bucket_starts(m_subject_hashes, m_subject_buckets);
    // index.txt.attr: "unique_subject = yes|no" (apps/apps.c load_index reads it as a config).
    std::string line;
    if (auto attr = slurp(m_paths.database + ".attr")) {
        m_attr_exists = true;
        std::istringstream ain(*attr);
        while (std::getline(ain, line)) {
            auto eq = line.find('=');
            if (eq == std::string::npos) continue;
            std::string key = line.substr(0, eq), value = line.substr(eq + 1);
            auto trim = [](std::string& s) {
                s.erase(0, s.find_first_not_of(" \t"));
                s.erase(s.find_last_not_of(" \t\r") + 1);
            };
            trim(key);
            trim(value);
            if (key == "unique_subject")
                m_unique_subject = value.empty() || value[0] == 'y' || value[0] == 'Y' ||
                                   value[0] == 't' || value[0] == 'T' || value[0] == '1';
        }
    }
    m_serial_stamp = stamp_of(m_paths.serial);
    m_crlnumber_stamp = stamp_of(m_paths.crlnumber);
    if (!m_paths.serial.empty() && exists(m_paths.serial))
        m_serial = read_number_file(m_paths.serial, "serial");
    if (!m_paths.crlnumber.empty() && exists(m_paths.crlnumber))
        m_crlnumber = read_number_file(m_paths.crlnumber, "crlnumber");
}

void CaDb::build_tables() const {
    if (!m_main_sorted) {
        bucket_sort(m_serial_hashes, m_serial_buckets);
        bucket_sort(m_subject_hashes, m_subject_buckets);
        m_main_sorted = true;
    }
    bucket_sort(m_serial_tail, m_serial_tail_buckets);
    bucket_sort(m_subject_tail, m_subject_tail_buckets);
    m_tables_sorted = true;
}

void CaDb::changed() noexcept { m_all_valid = false; }

const IndexEntry* CaDb::find_serial(std::string_view hex) const {
    const std::string key = serial_key(hex);
    if (auto it = m_changed.find(key); it != m_changed.end()) return &it->second;
    if (auto it = m_added_by_serial.find(key); it != m_added_by_serial.end())
        return &m_added[it->second];
    if (auto it = m_found.find(key); it != m_found.end()) return &it->second;
    if (!m_tables_sorted) build_tables();
    auto found = candidates(m_serial_hashes, m_serial_buckets, serial_key_hash(hex));
    for (off_t at : candidates(m_serial_tail, m_serial_tail_buckets, serial_key_hash(hex)))
        found.push_back(at);
    for (off_t at : found) {
        std::string line = line_at(at);
        std::string_view f[6];
        split_fields(line, f, [&] { return m_paths.database; });
        if (serial_key(f[3]) == key) {
            m_found_at[key] = at;
            return &m_found.emplace(key, entry_of(f)).first->second;
        }
    }
    return nullptr;  // absent, or a hash collision
}

const IndexEntry* CaDb::find_valid_subject(std::string_view subject) const {
    auto range = m_added_by_subject.equal_range(std::string(subject));
    for (auto it = range.first; it != range.second; ++it)
        if (m_added[it->second].status == 'V') return &m_added[it->second];
    for (const auto& [key, e] : m_changed)
        if (e.status == 'V' && e.subject == subject) return &e;
    if (!m_tables_sorted) build_tables();
    auto found = candidates(m_subject_hashes, m_subject_buckets, subject_hash(subject));
    for (off_t at : candidates(m_subject_tail, m_subject_tail_buckets, subject_hash(subject)))
        found.push_back(at);
    for (off_t at : found) {
        std::string line = line_at(at);
        std::string_view f[6];
        split_fields(line, f, [&] { return m_paths.database; });
        if (f[0][0] != 'V' || f[5] != subject) continue;
        std::string key = serial_key(f[3]);
        if (m_changed.count(key) != 0) continue;  // changed since: seen above
        auto it = m_found.find(key);
        if (it == m_found.end()) it = m_found.emplace(key, entry_of(f)).first;
        m_found_at[key] = at;
        return &it->second;
    }
    return nullptr;
}

void CaDb::for_each(const std::function<void(const IndexEntry&)>& fn) const {
    scan([&](std::string_view line, std::size_t n, off_t) {
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.empty()) return true;
        std::string_view f[6];
        split_fields(line, f, [&] { return m_paths.database + ":" + std::to_string(n); });
        if (!m_changed.empty()) {
            if (auto it = m_changed.find(serial_key(f[3])); it != m_changed.end()) {
                fn(it->second);
                return true;
            }
        }
        fn(entry_of(f));
        return true;
    });
    for (const auto& e : m_added) fn(e);
}

const std::vector<IndexEntry>& CaDb::entries() const {
    if (!m_all_valid) {
        m_all.clear();
        m_all.reserve(size());
        for_each([&](const IndexEntry& e) { m_all.push_back(e); });
        m_all_valid = true;
    }
    return m_all;
}

void CaDb::set_unique_subject(bool v) {
    if (v != m_unique_subject || !m_attr_exists) m_attr_dirty = true;
    m_unique_subject = v;
}

OsslPtr<BIGNUM> CaDb::next_serial() const {
    // Only what load() read under the lock counts: a file that was missing then and appeared
    // since is not read now (it was not there when the database was read).
    if (!m_serial) {
        if (m_paths.serial.empty()) throw CaDbError("no serial file is configured");
        throw CaDbError("the serial file " + m_paths.serial +
                        " does not exist (it was missing when the CA database was read); create it "
                        "with the next "
                        "serial (e.g. echo 1000 > " +
                        m_paths.serial + ")");
    }
    OsslPtr<BIGNUM> bn(BN_dup(m_serial.get()));
    if (!bn) throw OpenSslError("BN_dup");
    return bn;
}

void CaDb::set_next_serial(const BIGNUM* bn) {
    m_serial.reset(BN_dup(bn));
    m_serial_dirty = true;
}

namespace {

// Advances a number file past `count` numbers, durably, and returns the first.
OsslPtr<BIGNUM> reserve_numbers(const std::string& path, OsslPtr<BIGNUM>& current,
                                std::size_t count) {
    OsslPtr<BIGNUM> first(BN_dup(current.get()));
    OsslPtr<BIGNUM> after(BN_dup(current.get()));
    if (!first || !after || !BN_add_word(after.get(), static_cast<BN_ULONG>(count)))
        throw OpenSslError("BN_add_word");
    write_atomic(path, serial_hex(after.get()) + "\n", true);
    current = std::move(after);
    return first;
}

}  // namespace

OsslPtr<BIGNUM> CaDb::reserve_serials(std::size_t count) {
    if (!m_serial) next_serial();  // throws the explanation
    // openssl ca (no lock) may have issued since the read: its serials must not be handed out
    // again, so nothing is reserved (and nothing signed) then.
    check_unchanged(m_paths.serial, m_serial_stamp, "serial file");
    m_serial_dirty = false;
    auto first = reserve_numbers(m_paths.serial, m_serial, count);
    m_serial_stamp = stamp_of(m_paths.serial);
    return first;
}

OsslPtr<BIGNUM> CaDb::reserve_crlnumber() {
    if (!m_crlnumber) next_crlnumber();  // throws the explanation
    check_unchanged(m_paths.crlnumber, m_crlnumber_stamp, "crlnumber file");
    m_crlnumber_dirty = false;
    auto first = reserve_numbers(m_paths.crlnumber, m_crlnumber, 1);
    m_crlnumber_stamp = stamp_of(m_paths.crlnumber);
    return first;
}

OsslPtr<BIGNUM> CaDb::next_crlnumber() const {
    if (!m_crlnumber) {
        if (m_paths.crlnumber.empty()) throw CaDbError("no crlnumber file is configured");
        throw CaDbError("the crlnumber file " + m_paths.crlnumber +
                        " does not exist (it was missing when the CA database was read); create it "
                        "with the next "
                        "CRL number (e.g. echo 1000 > " +
                        m_paths.crlnumber + ")");
    }
    OsslPtr<BIGNUM> bn(BN_dup(m_crlnumber.get()));
    if (!bn) throw OpenSslError("BN_dup");
    return bn;
}

void CaDb::set_next_crlnumber(const BIGNUM* bn) {
    m_crlnumber.reset(BN_dup(bn));
    m_crlnumber_dirty = true;
}

void CaDb::add(IndexEntry e) {
    m_added.push_back(std::move(e));
    const IndexEntry& n = m_added.back();
    m_added_by_serial.emplace(serial_key(n.serial), m_added.size() - 1);
    m_added_by_subject.emplace(n.subject, m_added.size() - 1);
    m_index_dirty = true;
    // openssl ca writes index.txt.attr with every index.txt.
    m_attr_dirty = true;
    changed();
}

IndexEntry& CaDb::entry_for_update(std::string_view hex) {
    std::string key = serial_key(hex);
    IndexEntry* e = nullptr;
    if (auto it = m_changed.find(key); it != m_changed.end()) {
        e = &it->second;
        m_rewrite_pending = true;  // an entry of the file as read: only a rewrite changes it
    } else if (auto at = m_added_by_serial.find(key); at != m_added_by_serial.end()) {
        e = &m_added[at->second];
        if (at->second < m_added_on_disk) m_rewrite_pending = true;
    } else if (const IndexEntry* found = find_serial(hex)) {
        e = &m_changed.emplace(key, *found).first->second;
        if (auto pos = m_found_at.find(key); pos != m_found_at.end())
            m_changed_at[key] = pos->second;
        m_rewrite_pending = true;
    }
    if (e == nullptr)
        throw CaDbError("serial " + std::string(hex) + " is not in " + m_paths.database);
    m_index_dirty = true;  // the caller may change the status
    m_attr_dirty = true;
    changed();
    return *e;
}

void CaDb::add_certificate_file(const std::string& serial, std::string contents) {
    m_new_certs.emplace_back(m_paths.new_certs_dir + "/" + serial + ".pem", std::move(contents));
}

void CaDb::check_unchanged(const std::string& path, const FileStamp& stamp,
                           const char* what) const {
    if (path.empty() || stamp_of(path) == stamp) return;
    const std::size_t journaled = m_journal_exists ? 1 : 0;
    throw CaDbError(
        "the " + std::string(what) + " " + path +
        " changed after tokensign read it: another program wrote it meanwhile (openssl ca takes "
        "no lock, so tokensign cannot keep it out; or it was edited by hand). tokensign wrote "
        "nothing to it and does not overwrite the other program's lines." +
        (journaled != 0
             ? " The certificates signed in this run are kept in the journal " +
                   journal_path(m_paths.database) +
                   ": the next tokensign ca command records them in the new index (and warns if "
                   "the other program used one of their serials)."
             : std::string(" Run the command again.")));
}

void CaDb::append_index() {
    std::string out;
    if (m_disk_needs_newline) out += '\n';
    for (std::size_t i = m_added_on_disk; i < m_added.size(); ++i) out += m_added[i].line() + "\n";
    const std::string& path = m_paths.database;
    int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) throw CaDbError("cannot open " + path + " for appending: " + errno_text());
    try {
        struct stat st;
        if (::fstat(fd, &st) != 0 || st.st_ino != m_disk.ino || st.st_dev != m_disk.dev)
            throw CaDbError("the CA database " + path + " was replaced while it was opened");
        off_t at = st.st_size;
        if (m_disk_keep >= 0) {
            // A line a crash cut short, recovered from the journal: cut off first.
            if (::ftruncate(fd, m_disk_keep) != 0)
                throw CaDbError("cannot cut the torn last line of " + path + ": " + errno_text());
            at = m_disk_keep;
        }
        // pwrite at the end read under the lock, in one call: a kill lands before or after it,
        // a power loss leaves whole lines and at most one torn last line, which openssl does
        // not read and the next open() cuts off (the journal still holds its certificate).
        std::string_view rest = out;
        const off_t start = at;
        while (!rest.empty()) {
            ssize_t n = ::pwrite(fd, rest.data(), rest.size(), at);
            if (n < 0) {
                if (errno == EINTR) continue;
                // A full disk (ENOSPC, EFBIG) takes what fits: the lines written so far go again,
                // so that no torn line is left for openssl ca (the journal keeps the certificates).
                std::string why = errno_text();
                if (at != start && ::ftruncate(fd, start) != 0)
                    why += "; its torn last line could not be cut off (" + errno_text() +
                           "): the next tokensign ca command cuts it";
                throw CaDbError("cannot append to " + path + ": " + why);
            }
            rest.remove_prefix(static_cast<std::size_t>(n));
            at += n;
        }
        if (::fdatasync(fd) != 0) throw CaDbError("cannot fsync " + path + ": " + errno_text());
    } catch (...) {
        ::close(fd);
        throw;
    }
    ::close(fd);
    m_disk = stamp_of(path);
    m_disk_keep = -1;
    m_disk_needs_newline = false;
    if (m_lookup_on_disk) {
        // The sidecar's prefix and whole lines after it: what the next run may take by this
        // stamp, once the clock has moved past the append's ctime (a later change cannot then
        // keep it). Waits a tick at most; gives up rather than wait longer.
        for (int i = 0; i < 50 && !before(m_disk.ctime, coarse_now()); ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        if (before(m_disk.ctime, coarse_now()) && stamp_of(path) == m_disk)
            record_lookup_stamp(m_disk);
    }
}

namespace {

// Copies [from, to) of `in` to the end of `out`: in the kernel (copy_file_range) where it can,
// by reads and writes where it cannot (another filesystem, an old kernel).
void copy_range(int in, off_t from, off_t to, int out, const std::string& path) {
    bool kernel = true;
    std::vector<char> buf;
    while (from < to) {
        const std::size_t want = static_cast<std::size_t>(std::min<off_t>(to - from, 1 << 24));
        if (kernel) {
            loff_t at = from;
            ssize_t n = ::copy_file_range(in, &at, out, nullptr, want, 0);
            if (n > 0) {
                from = at;
                continue;
            }
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && errno != EXDEV && errno != EINVAL && errno != ENOSYS &&
                errno != EOPNOTSUPP && errno != EBADF)
                throw CaDbError("cannot copy " + path + ": " + errno_text());
            kernel = false;  // n == 0 (no progress) or not supported here
            buf.resize(1 << 20);
            continue;
        }
        ssize_t n = ::pread(in, buf.data(), std::min(buf.size(), want), from);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) throw CaDbError("cannot read " + path + ": " + errno_text());
        write_all(out, std::string_view(buf.data(), static_cast<std::size_t>(n)), path);
        from += n;
    }
}

}  // namespace

void CaDb::rewrite_index() {
    // The sidecar describes the file being replaced: removed, so that the next run reads the
    // new one whole at once instead of hashing it first to find that out (were it left, it
    // would fail that hash: never a wrong answer, only a slower one).
    m_lookup_on_disk = false;
    ::unlink(lookup_path(m_paths.database).c_str());
    // Every changed line's place is known (the usual case: found through the tables): the file
    // is copied around those lines in the kernel, the changed lines written in their place.
    if (m_changed_at.size() == m_changed.size()) {
        replace_file(m_paths.database, true, 0644, true, [&](int fd, const std::string& tmp) {
            std::map<off_t, const IndexEntry*> by_offset;
            for (const auto& [key, at] : m_changed_at) by_offset[at] = &m_changed.at(key);
            off_t cur = 0;
            for (const auto& [at, e] : by_offset) {
                copy_range(m_index_fd, cur, at, fd, tmp);
                // The old line ends at its newline (or the end of what was read).
                off_t end = at;
                char c[4096];
                for (bool found = false; !found && end < m_index_end;) {
                    const std::size_t want = static_cast<std::size_t>(
                        std::min<off_t>(static_cast<off_t>(sizeof c), m_index_end - end));
                    ssize_t n = ::pread(m_index_fd, c, want, end);
                    if (n < 0 && errno == EINTR) continue;
                    if (n <= 0) throw CaDbError("cannot read " + m_paths.database);
                    const void* nl = std::memchr(c, '\n', static_cast<std::size_t>(n));
                    if (nl != nullptr) {
                        end += static_cast<const char*>(nl) - c + 1;
                        found = true;
                    } else {
                        end += n;
                    }
                }
                write_all(fd, e->line() + "\n", tmp);
                cur = end;
            }
            copy_range(m_index_fd, cur, m_index_end, fd, tmp);
            std::string out;
            if (m_index_end > 0 && m_disk_needs_newline && cur < m_index_end) out += '\n';
            for (const auto& e : m_added) out += e.line() + "\n";
            write_all(fd, out, tmp);
        });
        m_disk = stamp_of(m_paths.database);
        m_disk_keep = -1;
        m_disk_needs_newline = false;
        return;
    }
    replace_file(m_paths.database, true, 0644, true, [&](int fd, const std::string& tmp) {
        std::string out;
        out.reserve(1 << 20);
        auto flush = [&](bool all) {
            if (out.size() >= (1 << 20) || (all && !out.empty())) {
                write_all(fd, out, tmp);
                out.clear();
            }
        };
        // Lines copied as they are; only a line whose serial field hashes like a changed
        // entry's is split and compared.
        std::set<std::uint64_t> changed_hashes;
        for (const auto& [key, e] : m_changed) changed_hashes.insert(serial_key_hash(key));
        scan([&](std::string_view line, std::size_t n, off_t) {
            if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
            if (line.empty()) return true;
            std::string_view serial_field;
            std::size_t t1 = line.find('\t'), t2 = std::string_view::npos,
                        t3 = std::string_view::npos, t4 = std::string_view::npos;
            if (t1 != std::string_view::npos) t2 = line.find('\t', t1 + 1);
            if (t2 != std::string_view::npos) t3 = line.find('\t', t2 + 1);
            if (t3 != std::string_view::npos) t4 = line.find('\t', t3 + 1);
            if (t4 != std::string_view::npos) serial_field = line.substr(t3 + 1, t4 - t3 - 1);
            if (!m_changed.empty() && changed_hashes.count(serial_key_hash(serial_field)) != 0) {
                std::string_view f[6];
                split_fields(line, f, [&] { return m_paths.database + ":" + std::to_string(n); });
                if (auto it = m_changed.find(serial_key(f[3])); it != m_changed.end()) {
                    out += it->second.line();
                    out += '\n';
                    flush(false);
                    return true;
                }
            }
            out += line;
            out += '\n';
            flush(false);
            return true;
        });
        for (const auto& e : m_added) {
            out += e.line();
            out += '\n';
            flush(false);
        }
        flush(true);
    });
    m_disk = stamp_of(m_paths.database);
    m_disk_keep = -1;
    m_disk_needs_newline = false;
}

void CaDb::commit() {
    // Nothing is written, not even newcerts/ (openssl ca may have used the same serials), when a
    // file to be written is no longer the one read under the lock.
    if (m_index_dirty) check_unchanged(m_paths.database, m_disk, "CA database");
    if (m_serial_dirty) check_unchanged(m_paths.serial, m_serial_stamp, "serial file");
    if (m_crlnumber_dirty) check_unchanged(m_paths.crlnumber, m_crlnumber_stamp, "crlnumber file");
    // Many certificate files: written first, then made durable together (one syncfs instead of
    // an fsync each), all before the serial and index that refer to them.
    for (const auto& [path, contents] : m_new_certs)
        write_atomic(path, contents, false, 0644, m_new_certs.size() == 1);
    if (m_new_certs.size() > 1) sync_filesystem(m_paths.new_certs_dir);
    m_new_certs.clear();
    // Prewritten files: made durable together (one syncfs, not an fsync each), then renamed in.
    if (!m_prewritten.empty()) {
        sync_filesystem(m_paths.new_certs_dir);
        for (const auto& [final_path, tmp] : m_prewritten)
            if (::rename(tmp.c_str(), final_path.c_str()) != 0)
                throw CaDbError("cannot move " + tmp + " to " + final_path + ": " + errno_text());
        m_prewritten.clear();
        fsync_dir(m_paths.new_certs_dir);
    }
    if (m_serial_dirty) {
        write_atomic(m_paths.serial, serial_hex(m_serial.get()) + "\n", true);
        m_serial_stamp = stamp_of(m_paths.serial);
        m_serial_dirty = false;
    }
    if (m_crlnumber_dirty) {
        write_atomic(m_paths.crlnumber, serial_hex(m_crlnumber.get()) + "\n", true);
        m_crlnumber_stamp = stamp_of(m_paths.crlnumber);
        m_crlnumber_dirty = false;
    }
    if (m_attr_dirty) {
        write_atomic(m_paths.database + ".attr",
                     std::string("unique_subject = ") + (m_unique_subject ? "yes" : "no") + "\n",
                     true);
        m_attr_exists = true;
        m_attr_dirty = false;
    }
    if (m_index_dirty && !m_rewrite_pending) {
        // A run that writes (and only then: a refused run leaves the directory as it was)
        // leaves a new sidecar when there was none to use, or when the lines read after its
        // prefix have grown to an eighth of it (each run reads them again). The append below
        // then records its stamp.
        if (!m_lookup_written &&
            (m_lookup_source == LookupSource::full_read ||
             m_lookup_tail > std::max<std::size_t>(4096, m_file_entries / 8))) {
            try {
                write_lookup();
            } catch (const Error&) {
                // Only a cache (a full disk, a directory this user cannot write): the next
                // run reads the whole file again, as this one did.
                ERR_clear_error();
            }
        }
    }
    if (m_index_dirty) {
        if (m_rewrite_pending)
            rewrite_index();
        else
            append_index();
        m_added_on_disk = m_added.size();
        m_rewrite_pending = false;
        m_index_dirty = false;
    }
    // index.txt now holds everything the journal recorded.
    if (m_journal_exists) {
        std::lock_guard<std::mutex> l(m_journal_mu);
        if (m_journal_fd >= 0) ::close(m_journal_fd);
        m_journal_fd = -1;
        const std::string path = journal_path(m_paths.database);
        if (::unlink(path.c_str()) != 0 && errno != ENOENT)
            throw CaDbError("cannot remove the journal " + path + ": " + errno_text());
        fsync_dir(dir_of(m_paths.database));
        m_journal_exists = false;
    }
}

}  // namespace ts::signer
