// SPDX-License-Identifier: Apache-2.0
// The ceremony file (tokensign-ceremony: 1): one reviewed YAML file that names every token, input,
// date, serial and step of an offline CA key ceremony. Parsed strictly; see docs/ceremony.md.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "signer/error.hpp"

namespace ts::signer::ceremony {

/// Where in the file something was written (1-based, as editors show it).
struct Mark {
    int line = 0;
    int column = 0;
};

/// A token, named by what is printed on it: a pkcs11: token URI with token= and/or serial=
/// (manufacturer=, model= allowed). `module` is a p11-kit registration name, or empty.
struct TokenDecl {
    std::string id;
    std::string uri;
    std::string module;
    Mark mark;
};

/// A file the ceremony reads (a CSR, another CA's certificate), with its SHA-256.
struct InputDecl {
    std::string id;
    std::string path;    // relative to the ceremony file's directory
    std::string sha256;  // 64 lower-case hex digits
    Mark mark;
};

enum class StepKind { Key, Root, Intermediate, CrossCertificate, Csr, Crl, StoreCert, CaDir };

/// The name a step kind has in the file ("cross-certificate").
const char* step_kind_name(StepKind k);

/// A serial number: explicit (hex, as written) or drawn from the token's C_GenerateRandom.
struct Serial {
    bool random = false;
    std::string hex;  // when !random: lower-case hex, no leading zeros
};

/// One step. Which fields are set depends on `kind` (the parser refuses the others):
///  key:               token, label, algorithm
///  root:              key, subject, not_before, not_after, serial, digest, pathlen,
///                     eku, policies, allow_eku_policies
///  intermediate:      issuer, key | csr, subject, not_before, not_after, serial, digest,
///                     pathlen, eku, policies
///  cross-certificate: issuer, certificate, not_before, not_after, serial, digest, pathlen
///  csr:               key, subject, digest
///  crl:               issuer, this_update, next_update, crl_number, digest
///  store-cert:        certificate, token, label
///  ca-dir:            certificate, key, dir
struct Step {
    std::string id;
    StepKind kind = StepKind::Key;
    Mark mark;
    std::string token, label, algorithm;
    std::string key, csr, issuer, certificate;
    std::string subject;
    int64_t not_before = 0, not_after = 0;  // seconds since the epoch, UTC
    int64_t this_update = 0, next_update = 0;
    Serial serial;
    std::string digest;  // empty for Ed25519/Ed448 keys
    std::optional<int> pathlen;
    std::vector<std::string> eku, policies;
    bool allow_eku_policies = false;
    std::string crl_number;  // hex
    std::string dir;
};

/// A parsed ceremony file.
struct File {
    std::string path;    // as given
    std::string sha256;  // of its exact bytes
    int version = 1;
    std::string name;
    std::vector<TokenDecl> tokens;
    std::vector<InputDecl> inputs;
    std::vector<Step> steps;
};

/// The file is not a valid ceremony file; what() is "FILE:LINE:COLUMN: what was wrong, what was
/// expected".
class FileError : public InputError {
  public:
    using InputError::InputError;
};

/// Parses `text` (named `path` in messages). Refuses unknown keys, duplicate keys, wrong types,
/// missing required keys, any pin-value/pin-source, relative dates, machine paths. Throws
/// FileError. Does not check references between steps (lint does: plan.hpp).
File parse(const std::string& text, const std::string& path);

/// Reads and parses the file at `path`. Throws FileError (also when it cannot be read).
File load(const std::string& path);

/// SHA-256 of `bytes` as 64 lower-case hex digits (OpenSSL EVP_Digest).
std::string sha256_hex(const std::string& bytes);

/// "2027-01-15T00:00:00Z" for `t`.
std::string format_time(int64_t t);

}  // namespace ts::signer::ceremony
