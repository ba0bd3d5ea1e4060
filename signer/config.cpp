// SPDX-License-Identifier: Apache-2.0
#include "signer/config.hpp"

#include <openssl/err.h>
#include <openssl/objects.h>

#include <algorithm>
#include <cctype>

#include "signer/error.hpp"

namespace ts::signer {

namespace {

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

}  // namespace

Conf Conf::load(const std::string& path, OSSL_LIB_CTX* libctx) {
    Conf c;
    c.m_path = path;
    c.m_conf.reset(NCONF_new_ex(libctx, nullptr));
    if (!c.m_conf) throw OpenSslError("NCONF_new_ex");
    long errline = -1;
    if (NCONF_load(c.m_conf.get(), path.c_str(), &errline) <= 0) {
        if (errline > 0) {
            OpenSslError detail("syntax error");
            throw InputError("cannot read the configuration " + path + ": line " +
                             std::to_string(errline) + ": " + detail.what());
        }
        OpenSslError detail("NCONF_load");
        throw InputError("cannot read the configuration " + path + ": " + detail.what());
    }
    return c;
}

std::optional<std::string> Conf::get(const std::string& section, const std::string& name) const {
    // A missing entry queues an error; that is a normal answer here, not a failure.
    ERR_set_mark();
    const char* v = NCONF_get_string(m_conf.get(), section.c_str(), name.c_str());
    ERR_pop_to_mark();
    if (v == nullptr) return std::nullopt;
    return std::string(v);
}

bool Conf::has_section(const std::string& section) const {
    ERR_set_mark();
    bool found = NCONF_get_section(m_conf.get(), section.c_str()) != nullptr;
    ERR_pop_to_mark();
    return found;
}

std::vector<std::pair<std::string, std::string>> Conf::section(const std::string& name) const {
    ERR_set_mark();
    STACK_OF(CONF_VALUE)* sk = NCONF_get_section(m_conf.get(), name.c_str());
    ERR_pop_to_mark();
    if (sk == nullptr) throw InputError("section [" + name + "] is not in " + m_path);
    std::vector<std::pair<std::string, std::string>> out;
    for (int i = 0; i < sk_CONF_VALUE_num(sk); ++i) {
        CONF_VALUE* v = sk_CONF_VALUE_value(sk, i);
        out.emplace_back(v->name ? v->name : "", v->value ? v->value : "");
    }
    return out;
}

bool parse_yesno(const std::string& value, bool def) {
    if (value.empty()) return def;
    switch (value[0]) {
        case 'y':
        case 'Y':
        case 't':
        case 'T':
        case '1':
            return true;
        case 'n':
        case 'N':
        case 'f':
        case 'F':
        case '0':
            return false;
        default:
            return def;
    }
}

CaConfig CaConfig::load(const Conf& conf, const std::string& name) {
    CaConfig c;
    if (!name.empty()) {
        c.section = name;
    } else {
        auto def = conf.get("ca", "default_ca");
        if (!def)
            throw InputError("no CA section chosen: " + conf.path() +
                             " has no default_ca in [ca]; add one or pass --name SECTION");
        c.section = *def;
    }
    if (!conf.has_section(c.section))
        throw InputError("the CA section [" + c.section + "] is not in " + conf.path());

    auto opt = [&](const char* key) { return conf.get(c.section, key); };
    auto req = [&](const char* key, const char* what) {
        auto v = opt(key);
        if (!v || v->empty())
            throw InputError(std::string(key) + " is missing from [" + c.section + "] in " +
                             conf.path() + ": set it to " + what);
        return *v;
    };
    auto num = [&](const char* key, long& out) {
        if (auto v = opt(key)) {
            try {
                std::size_t pos = 0;
                out = std::stol(*v, &pos);
                if (pos != v->size()) throw std::invalid_argument(*v);
            } catch (const std::exception&) {
                throw InputError(std::string(key) + " = " + *v + " in [" + c.section +
                                 "] is not a number");
            }
        }
    };

    c.database = req("database", "the index file (e.g. $dir/index.txt)");
    c.new_certs_dir = req("new_certs_dir", "the directory for issued certificates");
    c.certificate = req("certificate", "the CA certificate file");
    c.private_key = req("private_key", "the CA key's pkcs11: URI");
    if (auto v = opt("rand_serial")) c.rand_serial = parse_yesno(*v, false);
    if (c.rand_serial)
        c.serial = opt("serial").value_or("");
    else
        c.serial = req("serial", "the serial number file (e.g. $dir/serial)");
    c.crlnumber = opt("crlnumber").value_or("");
    num("default_days", c.default_days);
    c.default_startdate = opt("default_startdate").value_or("");
    c.default_enddate = opt("default_enddate").value_or("");
    c.default_md = opt("default_md").value_or("");
    c.policy = opt("policy").value_or("");
    // openssl ca reads `preserve` from [ca], not from the CA section (apps/ca.c BASE_SECTION);
    // a `preserve` in the CA section is ignored there, and here too, so both issue the same.
    if (auto v = conf.get("ca", "preserve")) c.preserve = parse_yesno(*v, false);
    if (auto v = opt("unique_subject")) c.unique_subject = parse_yesno(*v, true);
    if (auto v = opt("copy_extensions")) {
        std::string m = lower(*v);
        if (m == "none")
            c.copy_extensions = CopyExtensions::None;
        else if (m == "copy")
            c.copy_extensions = CopyExtensions::Copy;
        else if (m == "copyall")
            c.copy_extensions = CopyExtensions::CopyAll;
        else
            throw InputError("copy_extensions = " + *v + " in [" + c.section +
                             "] is not one of none, copy, copyall");
    }
    if (auto v = opt("tokensign_copy_only")) {
        c.copy_only.emplace();
        std::string item;
        auto flush = [&] {
            if (item.empty()) return;
            OsslPtr<ASN1_OBJECT> obj(OBJ_txt2obj(item.c_str(), 0));
            if (!obj) {
                ERR_clear_error();
                throw InputError("tokensign_copy_only in [" + c.section + "] names '" + item +
                                 "', which is not an extension name or OID (e.g. "
                                 "subjectAltName)");
            }
            char buf[128];
            OBJ_obj2txt(buf, sizeof buf, obj.get(), 1);
            c.copy_only->push_back(buf);
            item.clear();
        };
        for (char ch : *v) {
            if (ch == ',' || ch == ' ' || ch == '\t')
                flush();
            else
                item += ch;
        }
        flush();
    }
    c.x509_extensions = opt("x509_extensions").value_or("");
    c.crl_extensions = opt("crl_extensions").value_or("");
    c.chain = opt("tokensign_chain").value_or("");
    if (auto v = opt("email_in_dn")) c.email_in_dn = parse_yesno(*v, true);
    num("default_crl_days", c.default_crl_days);
    num("default_crl_hours", c.default_crl_hours);
    long floor = c.min_rsa_bits;
    num("tokensign_min_rsa_bits", floor);
    if (floor < 1024 || floor > 16384)
        throw InputError("tokensign_min_rsa_bits = " + std::to_string(floor) + " in [" + c.section +
                         "] must be between 1024 and 16384");
    c.min_rsa_bits = static_cast<int>(floor);
    if (auto v = opt("tokensign_clip_to_ca")) c.clip_to_ca = parse_yesno(*v, true);
    return c;
}

std::string check_digest(const std::string& md_in, const std::string& where, const EVP_PKEY* key) {
    if (key != nullptr && (EVP_PKEY_is_a(key, "ED25519") || EVP_PKEY_is_a(key, "ED448")))
        return "";  // EdDSA hashes inside the signature scheme; default_md does not apply
    // What to set: the option on the command line, default_md in a configuration.
    const std::string fix =
        where.rfind("--", 0) == 0
            ? "use " + where.substr(0, where.find(' ')) + " sha256 (or sha384/sha512)"
            : "set default_md = sha256 (or sha384/sha512)";
    std::string md = md_in;
    if (md.empty()) throw InputError(where + " is not set: " + fix);
    if (lower(md) == "default") {
        char name[80] = {0};
        if (key == nullptr ||
            EVP_PKEY_get_default_digest_name(const_cast<EVP_PKEY*>(key), name, sizeof name) <= 0)
            return "SHA256";
        md = name;
        if (md == "UNDEF") return "";
    }
    std::string l = lower(md);
    l.erase(std::remove(l.begin(), l.end(), '-'), l.end());
    if (l == "md5" || l == "md4" || l == "md2" || l == "mdc2" || l == "ripemd160" ||
        l == "rmd160" || l == "sha1" || l == "sha" || l == "md5sha1")
        throw InputError(
            where + " = " + md_in + " is refused: " +
            (l.rfind("md", 0) == 0
                 ? std::string("MD5-class signatures are forgeable (collisions) and rejected by "
                               "current verifiers")
                 : std::string(l == "sha1" || l == "sha"
                                   ? "SHA-1 signatures are forgeable (chosen-prefix collisions) "
                                     "and rejected by current verifiers"
                                   : "this digest is too weak for certificate signatures")) +
            "; " + fix);
    OsslPtr<EVP_MD> fetched(EVP_MD_fetch(nullptr, md.c_str(), nullptr));
    if (!fetched) {
        ERR_clear_error();
        throw InputError(where + " = " + md_in +
                         " is not a digest OpenSSL knows; set default_md = sha256 (or "
                         "sha384/sha512)");
    }
    if (EVP_MD_get_size(fetched.get()) < 28)
        throw InputError(where + " = " + md_in +
                         " is refused: digests shorter than 224 bits are too weak for "
                         "certificate signatures; set default_md = sha256 (or sha384/sha512)");
    return EVP_MD_get0_name(fetched.get());
}

}  // namespace ts::signer
