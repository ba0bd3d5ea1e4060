// SPDX-License-Identifier: Apache-2.0
// The openssl ca database: index.txt, index.txt.attr, serial, crlnumber and newcerts/, in
// openssl's formats, changed only through one locked, atomic commit path.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "hsm/ossl.hpp"

namespace ts::signer {

/// One line of index.txt (TXT_DB, six tab-separated fields, as apps/ca.c writes them).
struct IndexEntry {
    char status = 'V';       // V valid, R revoked, E expired
    std::string expiry;      // notAfter as the certificate holds it: YYMMDDHHMMSSZ (UTCTime) or
                             // YYYYMMDDHHMMSSZ (GeneralizedTime, from 2050)
    std::string revocation;  // "" or YYMMDDHHMMSSZ[,reason[,extra]]
    std::string serial;      // upper-case hex, even length ("00" for zero)
    std::string file = "unknown";
    std::string subject;  // X509_NAME_oneline form: /C=US/O=Example/CN=host
    /// The line without its newline.
    std::string line() const;
    /// Parses one line; throws CaDbError naming `where` (file:line) on a malformed line.
    static IndexEntry parse(std::string_view line, const std::string& where);
};

/// The database's files. `serial` and `crlnumber` may be empty (rand_serial, no CRL numbers).
struct CaDbPaths {
    std::string database;
    std::string serial;
    std::string crlnumber;
    std::string new_certs_dir;
};

/// Upper-case hex as openssl ca writes serials: whole bytes, "00" for zero, "-" for negatives.
std::string serial_hex(const BIGNUM* bn);
std::string serial_hex(const ASN1_INTEGER* ai);
/// Serial text normalised for comparison (upper case, leading zeros dropped), as TXT_DB's
/// serial index compares them.
std::string serial_key(std::string_view hex);

/// Writes `contents` to `path` so a crash leaves either the old or the new file: a temp file in
/// the same directory, fsync, (when `keep_old` and `path` exists) `path`.old hard-linked to the
/// current file, rename over `path`, fsync of the directory. Refuses (CaDbError) a `path` that
/// exists and is not a regular file (a device, FIFO, directory or symlink). Throws CaDbError.
/// With `durable` false neither the file nor the directory is fsynced: the caller makes many
/// files durable at once (sync_filesystem) or does not need durability (output copies).
void write_atomic(const std::string& path, std::string_view contents, bool keep_old,
                  mode_t mode = 0644, bool durable = true);

/// syncfs(2) on the filesystem holding `dir`: one call that makes every file written there
/// durable, instead of one fsync per file. Throws CaDbError.
void sync_filesystem(const std::string& dir);

/// An open, exclusively locked CA database. All reads come from the state loaded under the lock;
/// all writes are staged and land in commit(). Closing without commit() changes nothing.
class CaDb {
  public:
    /// flock(LOCK_EX) on `<database>.lock` (waits up to `lock_timeout_ms`, then CaDbError "locked
    /// by another signer"), removes temp files a crashed signer left (ours only: `<file>.tmp.PID`
    /// beside the database files, `.<serial>.pem.tmp.PID` in newcerts/), then reads index.txt,
    /// index.txt.attr, serial and crlnumber, and completes the record of an interrupted run from
    /// its journal (index lines and newcerts/ files for every certificate it signed; committed
    /// at once; see recovered()). Throws
    /// CaDbError for a missing or malformed file, naming it and the line.
    static std::unique_ptr<CaDb> open(const CaDbPaths& paths, int lock_timeout_ms = 30000);
    /// The database for reading only (ca list, status, verify), on a directory that may be
    /// read-only (an offline root's media): creates, removes and changes nothing. When
    /// `<database>.lock` exists and can be opened for reading, takes flock(LOCK_SH) on it (waits
    /// up to `lock_timeout_ms` for a writer's run, then CaDbError "locked by another signer");
    /// without a lock file (no signer has run yet) or without permission to open it, reads
    /// without one: every writer replaces each file by rename(2), so a reader sees each file
    /// whole, old or new. Reads the same files as open(). The result is const: it cannot stage
    /// or commit anything. Throws CaDbError for a missing or malformed file.
    static std::unique_ptr<const CaDb> open_read_only(const CaDbPaths& paths,
                                                      int lock_timeout_ms = 30000);
    CaDb(const CaDb&) = delete;
    CaDb& operator=(const CaDb&) = delete;
    ~CaDb();

    const CaDbPaths& paths() const noexcept { return m_paths; }
    /// Every entry (index.txt as read, with the staged changes and additions), materialised on
    /// the first call and after each change: costs memory in proportion to the database. Prefer
    /// for_each() where one pass is enough.
    const std::vector<IndexEntry>& entries() const;
    /// Calls `fn` for every entry, in file order then the staged additions, streaming index.txt
    /// (one entry in memory at a time). Throws CaDbError.
    void for_each(const std::function<void(const IndexEntry&)>& fn) const;
    /// The number of entries.
    std::size_t size() const noexcept { return m_file_entries + m_added.size(); }
    /// The entry with this serial (any case, leading zeros ignored), or nullptr. The pointer
    /// stays valid until the CaDb is destroyed, but does not follow a later entry_for_update.
    const IndexEntry* find_serial(std::string_view hex) const;
    /// A valid (V) entry with this subject, or nullptr: the unique_subject check.
    const IndexEntry* find_valid_subject(std::string_view subject) const;

    /// index.txt.attr's unique_subject (yes when the file or the line is absent).
    bool unique_subject() const noexcept { return m_unique_subject; }
    void set_unique_subject(bool v);

    /// The next serial, from the serial file. Throws CaDbError when there is no serial file.
    OsslPtr<BIGNUM> next_serial() const;
    void set_next_serial(const BIGNUM* bn);
    /// Reserves `count` serials, starting at next_serial(), for signatures about to be made: the
    /// serial file is advanced past them and made durable now, before the first signature, so
    /// no later run (of tokensign or openssl ca) hands any of them out again, used or not (a
    /// crash, a kill or a failing token only leaves a gap). Returns the first. Throws CaDbError.
    OsslPtr<BIGNUM> reserve_serials(std::size_t count);
    /// The next CRL number, from the crlnumber file. Throws CaDbError when it is not configured.
    OsslPtr<BIGNUM> next_crlnumber() const;
    void set_next_crlnumber(const BIGNUM* bn);
    /// Reserves the next CRL number as reserve_serials() does: durable before the CRL is signed.
    OsslPtr<BIGNUM> reserve_crlnumber();

    /// Records a certificate the CA key has just signed in the journal (`<database>.journal`,
    /// PEM certificates appended one write(2) each) before anything else happens to it. If the
    /// process dies before commit() records it in index.txt, the next open() completes the
    /// record from the journal; commit() removes the journal once index.txt holds every entry.
    /// Nothing signed is lost by a kill (the page cache outlives the process); a power loss can
    /// lose only certificates that never left the process, whose serials stay reserved.
    /// Thread-safe. Throws CaDbError.
    void journal(std::string_view certificate_pem);
    /// The path of the journal for `database`.
    static std::string journal_path(const std::string& database);
    /// Serials that open() recovered from an interrupted run's journal and committed; for
    /// open_read_only(), the journal's certificates not yet in index.txt (in entries(), not
    /// written).
    const std::vector<std::string>& recovered() const noexcept { return m_recovered; }
    /// Journaled certificates whose serial another program (openssl ca beside tokensign) used
    /// meanwhile for a different certificate in index.txt: one sentence each. open() moved them
    /// to conflicts_path() (they were signed: they must not vanish) and did not record them.
    const std::vector<std::string>& conflicts() const noexcept { return m_conflicts; }
    /// Where open() keeps journaled certificates that clash with another program's entries.
    static std::string conflicts_path(const std::string& database);
    /// The lookup sidecar beside the database (`<database>.lookup`): the lookup tables of an
    /// index.txt prefix and that prefix's SHA-256. open() and open_read_only() use it only when
    /// the hash matches index.txt's bytes as read under the lock (the rest of the file, lines
    /// appended since, is read as usual), or index.txt has the stamp tokensign recorded when it
    /// left it so; otherwise they read the whole file, and the next commit() that adds entries
    /// writes a new one. Never durable and never needed: deleting it costs one full read.
    static std::string lookup_path(const std::string& database);
    /// How load() got its lookup tables: from the sidecar (all of index.txt, or a prefix plus the
    /// lines after it), or by reading every line. For tests and TOKENSIGN_TIMING.
    enum class LookupSource {
        sidecar,                  // all of index.txt, its bytes hashed and found the same
        sidecar_prefix,           // a prefix, hashed; the lines after it read
        sidecar_by_stamp,         // all of index.txt, by the stamp tokensign recorded
        sidecar_prefix_by_stamp,  // a prefix by the stamp; the lines after it read
        full_read
    };
    LookupSource lookup_source() const noexcept { return m_lookup_source; }

    /// Stages a new index line.
    void add(IndexEntry e);
    /// Stages a change of an existing entry (found by serial). Throws CaDbError if absent.
    IndexEntry& entry_for_update(std::string_view hex);
    /// Stages newcerts/<serial>.pem.
    void add_certificate_file(const std::string& serial, std::string contents);

    /// Writes what will become `new_certs_dir`/<serial>.pem to a hidden temp file there now and
    /// returns its path; commit() makes it durable (syncfs) and renames it into place once
    /// staged with
    /// add_prewritten_certificate_file(). Touches no CaDb state, so batch signing calls it from
    /// a worker thread while the token signs. Throws CaDbError.
    static std::string prewrite_certificate_file(const std::string& new_certs_dir,
                                                 const std::string& serial,
                                                 std::string_view contents);
    /// Stages a prewritten file (the CaDb now owns it: removed if never committed).
    void add_prewritten_certificate_file(const std::string& serial, std::string temp_path);

    /// Writes everything staged in the order that keeps the database consistent at every step:
    /// new certificate files, then serial and crlnumber (a crash after them only skips numbers),
    /// then index.txt.attr and index.txt. When only entries were added, index.txt gets them
    /// appended (one write, fsync: openssl ca reads the result as if it had written it) and
    /// index.txt.old is left as it is; when an entry changed, index.txt is rewritten by streaming
    /// it to a temp file that replaces it (rename), with the previous file kept as
    /// index.txt.old by a hard link, as openssl ca keeps it. First of all it checks that
    /// index.txt (and the serial and crlnumber files it writes) are still the files it read:
    /// openssl ca takes no lock, and when it (or a person) changed them meanwhile, commit()
    /// writes nothing and throws CaDbError; the journal keeps what was signed for the next
    /// open(). Throws CaDbError.
    void commit();

    /// What identifies a file's contents without reading them: a rewrite by rename changes the
    /// inode, an edit in place the size or the modification time (nanoseconds).
    struct FileStamp {
        bool exists = false;
        dev_t dev = 0;
        ino_t ino = 0;
        off_t size = 0;
        struct timespec mtime = {};
        struct timespec ctime = {};
        bool operator==(const FileStamp& o) const noexcept;
    };

  private:
    CaDb(CaDbPaths paths, int lock_fd);
    void load(bool write);
    void recover_journal(bool write);
    void build_tables() const;
    void check_unchanged(const std::string& path, const FileStamp& stamp, const char* what) const;
    // Streams the lines of the index.txt read at load(), `fn(line, line_number, offset)` (the
    // line without its newline, where it starts); fn returns false to stop.
    // From `from` (a line start, line number `first_line` + 1 there), feeding every byte read
    // to `md` when given; returns the number of the last line.
    std::size_t scan(const std::function<bool(std::string_view, std::size_t, off_t)>& fn,
                     off_t from = 0, std::size_t first_line = 0, EVP_MD_CTX* md = nullptr) const;
    // Writes the sidecar for index.txt as read at load() (m_index_end bytes), from the tables.
    void write_lookup() const;
    // Records in the sidecar's stamp block that index.txt with stamp `s` is the sidecar's prefix
    // followed by whole lines (after a hashed load, after an append).
    void record_lookup_stamp(const FileStamp& s) const;
    // The line of index.txt as read that starts at `offset` (without its newline).
    std::string line_at(off_t offset) const;
    // Candidates' offsets for a hash in a table (see m_serial_hashes).
    static std::vector<off_t> candidates(const std::vector<std::uint64_t>& table,
                                         const std::vector<std::size_t>& buckets, std::uint64_t h);
    void changed() noexcept;
    void append_index();
    void rewrite_index();
    CaDbPaths m_paths;
    int m_lock_fd;
    // index.txt as read at load(): kept open, read again only within its first m_index_end
    // bytes (the lines openssl reads; a torn last line, recovered from the journal, is left
    // out), so every later scan sees exactly what was checked under the lock.
    int m_index_fd = -1;
    off_t m_index_end = 0;
    std::size_t m_file_entries = 0;
    // index.txt on disk as this CaDb last read or wrote it, and how to append to it: cut it
    // back to m_disk_keep bytes first (a torn line), add a newline first (an entry a person
    // wrote without one).
    FileStamp m_disk;
    off_t m_disk_keep = -1;
    bool m_disk_needs_newline = false;
    FileStamp m_serial_stamp, m_crlnumber_stamp;
    // Lookup tables over the file's entries, one 64-bit word per entry: the top 24 bits of a
    // hash of its serial key (of its subject, for valid entries), then the 40-bit offset of its
    // line; grouped in buckets by their top 16 bits (where each bucket starts). A hit is
    // confirmed by reading that line (a hash collision is no match).
    mutable std::vector<std::uint64_t> m_serial_hashes, m_subject_hashes;
    mutable std::vector<std::size_t> m_serial_buckets, m_subject_buckets;
    mutable bool m_tables_sorted = false;
    // The entries read after a sidecar's prefix, in tables of their own (the sidecar's stay as
    // they were grouped); m_main_sorted: the main tables are grouped and their buckets known.
    mutable std::vector<std::uint64_t> m_serial_tail, m_subject_tail;
    mutable std::vector<std::size_t> m_serial_tail_buckets, m_subject_tail_buckets;
    mutable bool m_main_sorted = false;
    LookupSource m_lookup_source = LookupSource::full_read;
    std::size_t m_lookup_tail = 0;          // entries read after the sidecar's prefix
    std::size_t m_index_lines = 0;          // lines in the first m_index_end bytes
    mutable unsigned char m_index_digest[32] = {};  // SHA-256 of the first m_index_end bytes
    mode_t m_index_mode = 0644;
    mutable bool m_digest_known = true;     // m_index_digest computed (not so when by stamp)
    mutable bool m_lookup_on_disk = false;
    mutable bool m_lookup_written = false;  // this CaDb wrote the sidecar  // the sidecar on disk
                                            // describes a prefix of index.txt
    mutable unsigned char m_lookup_sum[32] = {};  // its body's SHA-256
    mutable off_t m_lookup_stamp_at = 0;          // where its stamp block starts
    FileStamp m_load_stamp;                       // index.txt's stamp at load()
    struct timespec m_load_clock = {};            // the coarse clock just before that fstat
    // Entries of the file changed by entry_for_update (serial key -> entry), entries added
    // (stable addresses), entries found by a scan (serial key -> entry).
    std::map<std::string, IndexEntry> m_changed;
    std::deque<IndexEntry> m_added;
    std::size_t m_added_on_disk = 0;
    bool m_rewrite_pending = false;  // a change to an entry already on disk: rewrite, not append
    std::unordered_map<std::string, std::size_t> m_added_by_serial;
    std::unordered_multimap<std::string, std::size_t> m_added_by_subject;
    mutable std::map<std::string, IndexEntry> m_found;
    mutable std::map<std::string, off_t> m_found_at;  // where the found entries' lines start
    std::map<std::string, off_t> m_changed_at;        // where the changed entries' lines start
    mutable std::vector<IndexEntry> m_all;
    mutable bool m_all_valid = false;
    bool m_unique_subject = true;
    bool m_attr_exists = false;
    OsslPtr<BIGNUM> m_serial;
    OsslPtr<BIGNUM> m_crlnumber;
    bool m_index_dirty = false, m_attr_dirty = false, m_serial_dirty = false,
         m_crlnumber_dirty = false;
    std::vector<std::pair<std::string, std::string>> m_new_certs;
    std::vector<std::pair<std::string, std::string>> m_prewritten;  // final path, temp path
    std::mutex m_journal_mu;
    int m_journal_fd = -1;
    bool m_journal_exists = false;  // on disk (ours or a crashed run's): commit() removes it
    std::vector<std::string> m_recovered;
    std::vector<std::string> m_conflicts;
};

}  // namespace ts::signer
