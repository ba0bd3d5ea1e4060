// SPDX-License-Identifier: Apache-2.0
// The openssl ca configuration format, read through OpenSSL's NCONF API ($dir expansion,
// sections, the "default" section fallback), and the digest policy.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "hsm/ossl.hpp"

namespace ts::signer {

/// An openssl.cnf-format file loaded with NCONF_load.
class Conf {
  public:
    /// NCONF_new_ex + NCONF_load. Throws InputError naming the file and line on a syntax error.
    static Conf load(const std::string& path, OSSL_LIB_CTX* libctx);
    /// NCONF_get_string: the value in `section`, else in the unnamed default section.
    std::optional<std::string> get(const std::string& section, const std::string& name) const;
    /// True when NCONF_get_section finds the section.
    bool has_section(const std::string& section) const;
    /// The section's name = value pairs in file order. Throws InputError when it is missing.
    std::vector<std::pair<std::string, std::string>> section(const std::string& section) const;
    CONF* get() const noexcept { return m_conf.get(); }
    const std::string& path() const noexcept { return m_path; }

  private:
    OsslPtr<CONF> m_conf;
    std::string m_path;
};

/// copy_extensions = none | copy | copyall.
enum class CopyExtensions { None, Copy, CopyAll };

/// The settings of one CA section, with openssl ca's defaults.
struct CaConfig {
    std::string section;        // the CA section (default_ca or --name)
    std::string database;       // index.txt
    std::string new_certs_dir;  // newcerts/
    std::string certificate;    // CA certificate file
    std::string private_key;    // pkcs11: URI (or a file, for file-key CAs)
    std::string serial;         // serial file ("" allowed with rand_serial)
    std::string crlnumber;      // "" when not configured (CRLs then carry no number)
    long default_days = 0;
    std::string default_startdate;
    std::string default_enddate;
    std::string default_md;
    std::string policy;
    bool preserve = false;               // read from [ca], as openssl ca does
    std::optional<bool> unique_subject;  // unset: index.txt.attr decides (default yes)
    CopyExtensions copy_extensions = CopyExtensions::None;
    /// tokensign_copy_only: with copy/copyall, only these request extensions (as dotted OIDs)
    /// are copied; unset, every one is, as openssl ca does.
    std::optional<std::vector<std::string>> copy_only;
    std::string x509_extensions;
    std::string crl_extensions;
    /// tokensign_chain: the CA certificate and its issuers up to the root, for an intermediate
    /// CA ("" for a root, or a CA whose chain is not known: chains then end at `certificate`).
    std::string chain;
    bool email_in_dn = true;
    bool rand_serial = false;
    long default_crl_days = 0;
    long default_crl_hours = 0;
    /// Smallest RSA key a CSR may carry (tokensign_min_rsa_bits, default 2048).
    int min_rsa_bits = 2048;
    /// A certificate that would outlive the CA certificate: clipped to the CA's notAfter (with
    /// a note) when true (tokensign_clip_to_ca = yes, the default), refused when false.
    bool clip_to_ca = true;

    /// Reads [ca] default_ca (or `name`) and that section. Throws InputError for a missing
    /// section or a missing required entry (database, new_certs_dir, certificate, private_key,
    /// serial unless rand_serial), saying which.
    static CaConfig load(const Conf& conf, const std::string& name = "");
};

/// The digest used for CA signatures: `md` from default_md (or --md), "default" meaning the key's
/// default. Refuses (InputError) MD5, SHA-1 and anything weaker than SHA-224, saying why and what
/// to set; `where` names the setting ("default_md in [couch_ca]"). Returns "" for Ed25519/Ed448
/// keys, which take no separate digest.
std::string check_digest(const std::string& md, const std::string& where, const EVP_PKEY* key);

/// "yes"/"y"/"true"/"on"/"1" as openssl's parse_yesno (first letter y/Y/t/T/1).
bool parse_yesno(const std::string& value, bool def);

}  // namespace ts::signer
