// SPDX-License-Identifier: Apache-2.0
// Output files (--out, --out-dir, gencrl --out) checked before the token signs anything, and
// written whole or not at all.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace ts::cli {

/// One output file, checked when constructed, before anything is signed:
/// - "-" is standard output;
/// - an existing file that is not a regular file (/dev/stdout, /dev/null, a FIFO) is written in
///   place, never replaced;
/// - otherwise its directory must exist and take a new file: a hidden temp file
///   (`.NAME.tmp.PID`) is created there now, so a missing directory, a read-only filesystem or
///   a full inode table is found before the token signs; and `path` must not exist unless
///   `force`.
/// Throws UsageError naming `option`, the path and what to do. The destructor removes the temp
/// file when write() did not move it into place.
class OutputFile {
  public:
    OutputFile(std::string path, bool force, std::string option);
    ~OutputFile();
    OutputFile(OutputFile&& o) noexcept;
    OutputFile(const OutputFile&) = delete;
    OutputFile& operator=(const OutputFile&) = delete;
    OutputFile& operator=(OutputFile&&) = delete;

    const std::string& path() const noexcept { return m_path; }
    /// Writes `contents` to the temp file (fsync'd when `durable`) and renames it to path();
    /// without force, never over a file that appeared there meanwhile. Throws
    /// std::runtime_error naming the path.
    void write(std::string_view contents, bool durable = true);

  private:
    std::string m_path;
    std::string m_option;
    std::string m_tmp;  // "" for stdout and in-place files, and once written
    bool m_force;
    bool m_in_place = false;
};

/// --out-dir: `dir` must be an existing directory that takes new files (probed with a temp file
/// now), and none of `names` (files in it) may exist unless `force`; two inputs that would
/// write the same name are refused. Throws UsageError.
void check_output_dir(const std::string& dir, const std::vector<std::string>& paths, bool force);

/// The hidden temp name beside `path` (`DIR/.NAME.tmp.PID`) that a pipeline writes an output to
/// before the commit, then renames into place.
std::string hidden_temp_path(const std::string& path);

}  // namespace ts::cli
