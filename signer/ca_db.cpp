// SPDX-License-Identifier: Apache-2.0
#include "signer/ca_db.hpp"

#include <fcntl.h>
#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
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
    for (const std::string& f : {p.database, p.database + ".attr", p.serial, p.crlnumber}) {
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

IndexEntry IndexEntry::parse(std::string_view line, const std::string& where) {
    std::vector<std::string> f;
    std::size_t start = 0;
    for (;;) {
        auto tab = line.find('\t', start);
        f.emplace_back(line.substr(start, tab == std::string_view::npos ? line.npos : tab - start));
        if (tab == std::string_view::npos) break;
        start = tab + 1;
    }
    if (f.size() != 6)
        throw CaDbError(where + ": expected 6 tab-separated fields, found " +
                        std::to_string(f.size()));
    IndexEntry e;
    if (f[0].size() != 1 || (f[0][0] != 'V' && f[0][0] != 'R' && f[0][0] != 'E'))
        throw CaDbError(where + ": status must be V, R or E, not '" + f[0] + "'");
    e.status = f[0][0];
    e.expiry = f[1];
    if (!ASN1_TIME_set_string_X509(nullptr, e.expiry.c_str())) {
        ERR_clear_error();
        throw CaDbError(where + ": invalid expiry date '" + e.expiry + "'");
    }
    e.revocation = f[2];
    if (e.status == 'R' && e.revocation.empty())
        throw CaDbError(where + ": revoked entry without a revocation date");
    e.serial = f[3];
    std::string_view s = e.serial;
    if (!s.empty() && s[0] == '-') s.remove_prefix(1);
    if (s.size() < 2 || s.size() % 2 != 0)
        throw CaDbError(where + ": bad serial number length (" + std::to_string(s.size()) + ")");
    for (char c : s)
        if (!std::isxdigit(static_cast<unsigned char>(c)))
            throw CaDbError(where + ": bad serial number character '" + std::string(1, c) + "'");
    e.file = f[4];
    e.subject = f[5];
    return e;
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

void write_atomic(const std::string& path, std::string_view contents, bool keep_old, mode_t mode,
                  bool durable) {
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
    write_new_file(tmp, contents, final_mode, durable);
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

CaDb::CaDb(CaDbPaths paths, int lock_fd) : m_paths(std::move(paths)), m_lock_fd(lock_fd) {}

CaDb::~CaDb() {
    for (const auto& [final_path, tmp] : m_prewritten) ::unlink(tmp.c_str());
    // The journal stays: what it holds was signed and is recorded by the next open().
    if (m_journal_fd >= 0) ::close(m_journal_fd);
    if (m_lock_fd >= 0) ::close(m_lock_fd);  // closing releases the flock
}

std::string CaDb::journal_path(const std::string& database) { return database + ".journal"; }

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
    for (;;) {
        OsslPtr<X509> cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
        if (!cert) break;  // the end, or a record torn by a crash: nothing after it was written
        IndexEntry e = index_entry_for(cert.get());
        if (find_serial(e.serial) != nullptr || !seen.insert(serial_key(e.serial)).second)
            continue;  // recorded before the crash (index.txt written, journal not yet removed)
        std::string file = m_paths.new_certs_dir + "/" + e.serial + ".pem";
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

std::unique_ptr<CaDb> CaDb::open(const CaDbPaths& paths, int lock_timeout_ms) {
    if (!exists(paths.database))
        throw CaDbError("the CA database " + paths.database +
                        " does not exist; is this a CA directory (tokensign ca init)?");
    std::string lock_path = paths.database + ".lock";
    int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) throw CaDbError("cannot open the lock file " + lock_path + ": " + errno_text());
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(lock_timeout_ms);
    for (;;) {
        if (::flock(fd, LOCK_EX | LOCK_NB) == 0) break;
        if (errno != EWOULDBLOCK && errno != EINTR) {
            std::string why = errno_text();
            ::close(fd);
            throw CaDbError("cannot lock " + lock_path + ": " + why);
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            ::close(fd);
            throw CaDbError("the CA database " + paths.database +
                            " is locked by another signer (waited " +
                            std::to_string(lock_timeout_ms / 1000) + " s); try again later");
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    std::unique_ptr<CaDb> db(new CaDb(paths, fd));
    remove_stale_temps(paths);
    db->load();
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
    if (fd >= 0) {
        auto deadline =
            std::chrono::steady_clock::now() + std::chrono::milliseconds(lock_timeout_ms);
        for (;;) {
            if (::flock(fd, LOCK_SH | LOCK_NB) == 0) break;
            if (errno != EWOULDBLOCK && errno != EINTR) {
                std::string why = errno_text();
                ::close(fd);
                throw CaDbError("cannot lock " + lock_path + " for reading: " + why);
            }
            if (std::chrono::steady_clock::now() >= deadline) {
                ::close(fd);
                throw CaDbError("the CA database " + paths.database +
                                " is locked by another signer (waited " +
                                std::to_string(lock_timeout_ms / 1000) + " s); try again later");
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    }
    std::unique_ptr<CaDb> db(new CaDb(paths, fd));
    db->load();
    db->recover_journal(false);
    return db;
}

void CaDb::load() {
    auto text = slurp(m_paths.database);
    if (!text) throw CaDbError("the CA database " + m_paths.database + " disappeared");
    std::istringstream in(*text);
    std::string line;
    int n = 0;
    while (std::getline(in, line)) {
        ++n;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.empty()) continue;
        m_entries.push_back(IndexEntry::parse(line, m_paths.database + ":" + std::to_string(n)));
    }
    // index.txt.attr: "unique_subject = yes|no" (apps/apps.c load_index reads it as a config).
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
    if (!m_paths.serial.empty() && exists(m_paths.serial))
        m_serial = read_number_file(m_paths.serial, "serial");
    if (!m_paths.crlnumber.empty() && exists(m_paths.crlnumber))
        m_crlnumber = read_number_file(m_paths.crlnumber, "crlnumber");
}

void CaDb::reindex() const {
    m_by_serial.clear();
    m_valid_by_subject.clear();
    for (std::size_t i = 0; i < m_entries.size(); ++i) {
        m_by_serial.emplace(serial_key(m_entries[i].serial), i);
        if (m_entries[i].status == 'V') m_valid_by_subject.emplace(m_entries[i].subject, i);
    }
    m_index_stale = false;
}

const IndexEntry* CaDb::find_serial(std::string_view hex) const {
    if (m_index_stale) reindex();
    auto it = m_by_serial.find(serial_key(hex));
    return it == m_by_serial.end() ? nullptr : &m_entries[it->second];
}

const IndexEntry* CaDb::find_valid_subject(std::string_view subject) const {
    if (m_index_stale) reindex();
    auto it = m_valid_by_subject.find(std::string(subject));
    return it == m_valid_by_subject.end() ? nullptr : &m_entries[it->second];
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
    m_serial_dirty = false;
    return reserve_numbers(m_paths.serial, m_serial, count);
}

OsslPtr<BIGNUM> CaDb::reserve_crlnumber() {
    if (!m_crlnumber) next_crlnumber();  // throws the explanation
    m_crlnumber_dirty = false;
    return reserve_numbers(m_paths.crlnumber, m_crlnumber, 1);
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
    m_entries.push_back(std::move(e));
    if (!m_index_stale) {
        const IndexEntry& n = m_entries.back();
        m_by_serial.emplace(serial_key(n.serial), m_entries.size() - 1);
        if (n.status == 'V') m_valid_by_subject.emplace(n.subject, m_entries.size() - 1);
    }
    m_index_dirty = true;
    // openssl ca writes index.txt.attr with every index.txt.
    m_attr_dirty = true;
}

IndexEntry& CaDb::entry_for_update(std::string_view hex) {
    std::string key = serial_key(hex);
    for (auto& e : m_entries) {
        if (serial_key(e.serial) == key) {
            m_index_stale = true;  // the caller may change the status
            m_index_dirty = true;
            m_attr_dirty = true;
            return e;
        }
    }
    throw CaDbError("serial " + std::string(hex) + " is not in " + m_paths.database);
}

void CaDb::add_certificate_file(const std::string& serial, std::string contents) {
    m_new_certs.emplace_back(m_paths.new_certs_dir + "/" + serial + ".pem", std::move(contents));
}

void CaDb::commit() {
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
        m_serial_dirty = false;
    }
    if (m_crlnumber_dirty) {
        write_atomic(m_paths.crlnumber, serial_hex(m_crlnumber.get()) + "\n", true);
        m_crlnumber_dirty = false;
    }
    if (m_attr_dirty) {
        write_atomic(m_paths.database + ".attr",
                     std::string("unique_subject = ") + (m_unique_subject ? "yes" : "no") + "\n",
                     true);
        m_attr_exists = true;
        m_attr_dirty = false;
    }
    if (m_index_dirty) {
        std::string out;
        for (const auto& e : m_entries) out += e.line() + "\n";
        write_atomic(m_paths.database, out, true);
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
