// SPDX-License-Identifier: Apache-2.0
// Helpers for CA tests: keys and CSRs made with OpenSSL, CA directory snapshots, running tokensign.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "hsm/ossl.hpp"
#include "tests/support/process.hpp"

namespace ts::test {

using Dn = std::vector<std::pair<std::string, std::string>>;

/// A new RSA or EC (P-256) key in the default library context.
OsslPtr<EVP_PKEY> make_rsa_key(unsigned bits);
OsslPtr<EVP_PKEY> make_ec_key();
/// Writes the private key as unencrypted PKCS#8 PEM.
void write_key(const std::string& path, EVP_PKEY* key);

/// A CSR (PEM) for `key` with subject `dn` and the given requested extensions
/// ("basicConstraints" -> "critical,CA:TRUE"), signed with SHA-256.
std::string make_csr(EVP_PKEY* key, const Dn& dn, const Dn& extensions = {});
void write_text(const std::string& path, const std::string& text);
std::string read_text(const std::string& path);

/// Every regular file under `dir` (relative path -> contents), except the lock file.
std::map<std::string, std::string> snapshot(const std::string& dir);

class SoftHsm;
/// The environment for tokensign and openssl runs against `hsm`'s token: its conf and module,
/// the PIN (TOKENSIGN_PIN is acceptable in tests) and the provider from this build.
std::map<std::string, std::string> token_env(const SoftHsm& hsm);
/// token_env(), with the token reached through tests/fault's module and `faults` (its
/// TS_FAULT_* settings).
std::map<std::string, std::string> fault_token_env(
    const SoftHsm& hsm, const std::map<std::string, std::string>& faults);

/// tokensign with these arguments.
RunResult tokensign(std::vector<std::string> args,
                    const std::map<std::string, std::string>& env = {},
                    const std::string& input = "");

/// index.txt lines with the dates blanked (fields 2 and 3), for comparing two CAs.
std::vector<std::string> index_without_dates(const std::string& index_path);

}  // namespace ts::test
