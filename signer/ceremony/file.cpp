// SPDX-License-Identifier: Apache-2.0
// The strict ceremony file parser. yaml-cpp builds the tree; everything it lets through that a
// reviewed file must not have (duplicate keys, unknown keys, a number where a date belongs) is
// refused here with the line and column an editor shows.
#include "signer/ceremony/file.hpp"

#include <openssl/evp.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

namespace ts::signer::ceremony {

namespace {

struct Ctx {
    std::string path;

    [[noreturn]] void fail(const YAML::Mark& m, const std::string& what) const {
        throw FileError(path + ":" + std::to_string(m.line + 1) + ":" +
                        std::to_string(m.column + 1) + ": " + what);
    }
};

Mark mark_of(const YAML::Node& n) { return {n.Mark().line + 1, n.Mark().column + 1}; }

std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

// Before anything else, over the whole tree: yaml-cpp keeps both pairs of a duplicated key (and
// node[key] returns the first), so a reviewer reading the second would be misled. And a PIN has
// no place in a file that is printed, reviewed and kept.
void check_tree(const Ctx& c, const YAML::Node& n) {
    if (n.IsScalar()) {
        std::string v = lower(n.Scalar());
        if (v.find("pin-value") != std::string::npos || v.find("pin-source") != std::string::npos)
            c.fail(n.Mark(),
                   "a pin-value or pin-source is not allowed in a ceremony file: PINs are entered "
                   "at the ceremony (prompt), never written in the file");
    } else if (n.IsSequence()) {
        for (const auto& item : n) check_tree(c, item);
    } else if (n.IsMap()) {
        std::set<std::string> seen;
        for (const auto& kv : n) {
            if (!kv.first.IsScalar()) c.fail(kv.first.Mark(), "expected a plain key (a name)");
            const std::string& k = kv.first.Scalar();
            if (!seen.insert(k).second)
                c.fail(kv.first.Mark(),
                       "duplicate key '" + k + "': each key may appear once in a mapping");
            check_tree(c, kv.first);
            check_tree(c, kv.second);
        }
    }
}

// One mapping: its keys checked against what is allowed, its values read by type.
class MapReader {
  public:
    MapReader(const Ctx& c, const YAML::Node& n, const std::string& what,
              std::vector<std::string> allowed)
        : m_c(c), m_n(n), m_what(what) {
        if (!n.IsMap()) c.fail(n.Mark(), "expected " + what + " (a mapping of key: value)");
        for (const auto& kv : n) {
            const std::string& k = kv.first.Scalar();
            if (std::find(allowed.begin(), allowed.end(), k) == allowed.end()) {
                std::string list;
                for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
                c.fail(kv.first.Mark(),
                       "unknown key '" + k + "' in " + what + "; expected one of: " + list);
            }
            m_values.emplace(k, kv.second);
        }
    }

    bool has(const std::string& key) const { return m_values.count(key) != 0; }

    // A default YAML::Node is a defined null, not "absent": callers ask has() first.
    YAML::Node node(const std::string& key, bool required) const {
        auto it = m_values.find(key);
        if (it == m_values.end()) {
            if (required) m_c.fail(m_n.Mark(), "missing required key '" + key + "' in " + m_what);
            return YAML::Node();
        }
        return it->second;
    }

    std::string str(const std::string& key, bool required = true) const {
        if (!has(key) && !required) return {};
        YAML::Node v = node(key, required);
        if (!v.IsScalar() || v.Scalar().empty())
            m_c.fail(v.Mark(), "'" + key + "' must be a string (a non-empty scalar)");
        return v.Scalar();
    }

    std::optional<long> integer(const std::string& key, long lo, long hi,
                                bool required = true) const {
        if (!has(key) && !required) return std::nullopt;
        YAML::Node v = node(key, required);
        static const std::regex digits("[0-9]{1,9}");
        // A quoted "1" is a string: the file says what it means.
        if (!v.IsScalar() || v.Tag() != "?" || !std::regex_match(v.Scalar(), digits))
            m_c.fail(v.Mark(), "'" + key + "' must be an integer (" + std::to_string(lo) + " to " +
                                   std::to_string(hi) + ")");
        long x = std::stol(v.Scalar());
        if (x < lo || x > hi)
            m_c.fail(v.Mark(), "'" + key + "' is " + v.Scalar() + "; expected " +
                                   std::to_string(lo) + " to " + std::to_string(hi));
        return x;
    }

    bool boolean(const std::string& key) const {
        if (!has(key)) return false;
        YAML::Node v = node(key, false);
        if (!v.IsScalar() || v.Tag() != "?" || (v.Scalar() != "true" && v.Scalar() != "false"))
            m_c.fail(v.Mark(), "'" + key + "' must be true or false");
        return v.Scalar() == "true";
    }

    std::vector<std::string> strings(const std::string& key) const {
        std::vector<std::string> out;
        if (!has(key)) return out;
        YAML::Node v = node(key, false);
        if (!v.IsSequence())
            m_c.fail(v.Mark(), "'" + key + "' must be a list of strings ([a, b] or - items)");
        for (const auto& item : v) {
            if (!item.IsScalar() || item.Scalar().empty())
                m_c.fail(item.Mark(), "each entry of '" + key + "' must be a string");
            out.push_back(item.Scalar());
        }
        return out;
    }

    const YAML::Node& self() const { return m_n; }

  private:
    const Ctx& m_c;
    YAML::Node m_n;
    std::string m_what;
    std::map<std::string, YAML::Node> m_values;
};

const std::regex kIdPattern("[a-z0-9][a-z0-9._-]{0,62}");

std::string read_id(const Ctx& c, const MapReader& r) {
    std::string id = r.str("id");
    if (!std::regex_match(id, kIdPattern))
        c.fail(r.node("id", true).Mark(),
               "id '" + id + "' must be lower-case letters, digits, '.', '_' or '-' (at most 63)");
    return id;
}

// Portable time: timegm of the fields, then back, so 2027-02-30 is refused.
int64_t read_time(const Ctx& c, const MapReader& r, const std::string& key) {
    std::string v = r.str(key);
    static const std::regex pat(
        "([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})Z");
    std::smatch m;
    auto bad = [&] {
        c.fail(r.node(key, true).Mark(),
               "'" + key + "' is '" + v +
                   "'; expected an explicit UTC date and time like 2027-01-15T00:00:00Z (no "
                   "relative dates: the file says exactly when)");
    };
    if (!std::regex_match(v, m, pat)) bad();
    std::tm tm{};
    tm.tm_year = std::stoi(m[1]) - 1900;
    tm.tm_mon = std::stoi(m[2]) - 1;
    tm.tm_mday = std::stoi(m[3]);
    tm.tm_hour = std::stoi(m[4]);
    tm.tm_min = std::stoi(m[5]);
    tm.tm_sec = std::stoi(m[6]);
    std::tm check = tm;
    time_t t = timegm(&check);
    if (check.tm_year != tm.tm_year || check.tm_mon != tm.tm_mon || check.tm_mday != tm.tm_mday ||
        check.tm_hour != tm.tm_hour || check.tm_min != tm.tm_min || check.tm_sec != tm.tm_sec)
        bad();
    return static_cast<int64_t>(t);
}

std::string read_hex_number(const Ctx& c, const MapReader& r, const std::string& key,
                            bool allow_random, bool* random) {
    std::string v = r.str(key);
    if (allow_random && v == "random") {
        *random = true;
        return {};
    }
    static const std::regex hex("[0-9a-fA-F]{1,40}");
    std::string expected = allow_random ? "'random' or hex digits (at most 40)" : "hex digits";
    if (!std::regex_match(v, hex))
        c.fail(r.node(key, true).Mark(), "'" + key + "' is '" + v + "'; expected " + expected);
    v = lower(v);
    v.erase(0, std::min(v.find_first_not_of('0'), v.size()));
    if (v.empty()) c.fail(r.node(key, true).Mark(), "'" + key + "' must not be zero");
    return v;
}

// Relative, inside the ceremony's directory: no machine's absolute paths, no way out.
std::string read_relative_path(const Ctx& c, const MapReader& r, const std::string& key) {
    std::string v = r.str(key);
    bool bad = v.front() == '/' || v.front() == '~' || v.find('\\') != std::string::npos;
    std::stringstream parts(v);
    for (std::string p; std::getline(parts, p, '/');)
        if (p == ".." || p.empty()) bad = true;
    if (bad)
        c.fail(r.node(key, true).Mark(),
               "'" + key + "' is '" + v +
                   "'; expected a relative path below the ceremony file's directory (no leading "
                   "'/', no '..')");
    return v;
}

std::string read_token_uri(const Ctx& c, const MapReader& r) {
    std::string v = r.str("uri");
    YAML::Mark m = r.node("uri", true).Mark();
    const std::string prefix = "pkcs11:";
    if (v.compare(0, prefix.size(), prefix) != 0)
        c.fail(m, "'uri' is '" + v +
                      "'; expected a pkcs11: token URI (pkcs11:token=LABEL or "
                      "pkcs11:serial=SERIAL)");
    if (v.find('?') != std::string::npos)
        c.fail(m,
               "'uri' must name the token only: no query attributes (module-path, pin-*); "
               "give the module by p11-kit registration in 'module' or by --module");
    bool names = false;
    std::stringstream attrs(v.substr(prefix.size()));
    for (std::string a; std::getline(attrs, a, ';');) {
        std::string name = a.substr(0, a.find('='));
        if (a.find('=') == std::string::npos ||
            (name != "token" && name != "serial" && name != "manufacturer" && name != "model"))
            c.fail(m, "'uri' attribute '" + a +
                          "' is not allowed; a token URI has token=, serial=, manufacturer=, "
                          "model= only");
        if (name == "token" || name == "serial") names = true;
    }
    if (!names) c.fail(m, "'uri' must name the token by token= (its label) or serial=");
    return v;
}

TokenDecl read_token(const Ctx& c, const YAML::Node& n) {
    MapReader r(c, n, "a token", {"id", "uri", "module"});
    TokenDecl t;
    t.id = read_id(c, r);
    t.uri = read_token_uri(c, r);
    t.module = r.str("module", false);
    static const std::regex reg("[A-Za-z0-9._-]+");
    if (r.has("module") && !std::regex_match(t.module, reg))
        c.fail(r.node("module", true).Mark(),
               "'module' is '" + t.module +
                   "'; expected a p11-kit module registration name (like softhsm2), not a path: "
                   "a path is a machine detail, give it with --module");
    t.mark = mark_of(n);
    return t;
}

InputDecl read_input(const Ctx& c, const YAML::Node& n) {
    MapReader r(c, n, "an input", {"id", "path", "sha256"});
    InputDecl in;
    in.id = read_id(c, r);
    in.path = read_relative_path(c, r, "path");
    in.sha256 = lower(r.str("sha256"));
    static const std::regex hex("[0-9a-f]{64}");
    if (!std::regex_match(in.sha256, hex))
        c.fail(r.node("sha256", true).Mark(),
               "'sha256' must be 64 hex digits (sha256sum FILE, or openssl dgst -sha256)");
    in.mark = mark_of(n);
    return in;
}

struct KindInfo {
    StepKind kind;
    const char* name;
    std::vector<std::string> keys;  // beyond id and step
};

const std::vector<KindInfo>& kinds() {
    static const std::vector<KindInfo> k = {
        {StepKind::Key, "key", {"token", "label", "algorithm"}},
        {StepKind::Root,
         "root",
         {"key", "subject", "not-before", "not-after", "serial", "digest", "pathlen", "eku",
          "policies", "allow-eku-policies"}},
        {StepKind::Intermediate,
         "intermediate",
         {"issuer", "key", "csr", "subject", "not-before", "not-after", "serial", "digest",
          "pathlen", "eku", "policies"}},
        {StepKind::CrossCertificate,
         "cross-certificate",
         {"issuer", "certificate", "not-before", "not-after", "serial", "digest", "pathlen"}},
        {StepKind::Csr, "csr", {"key", "subject", "digest"}},
        {StepKind::Crl, "crl", {"issuer", "this-update", "next-update", "crl-number", "digest"}},
        {StepKind::StoreCert, "store-cert", {"certificate", "token", "label"}},
        {StepKind::CaDir, "ca-dir", {"certificate", "key", "dir"}},
    };
    return k;
}

void read_validity(const Ctx& c, const MapReader& r, Step& s) {
    s.not_before = read_time(c, r, "not-before");
    s.not_after = read_time(c, r, "not-after");
    s.serial.hex = read_hex_number(c, r, "serial", true, &s.serial.random);
    s.digest = lower(r.str("digest", false));
    if (r.has("pathlen")) s.pathlen = static_cast<int>(*r.integer("pathlen", 0, 16));
}

Step read_step(const Ctx& c, const YAML::Node& n) {
    if (!n.IsMap()) c.fail(n.Mark(), "expected a step (a mapping with id: and step:)");
    YAML::Node kind_node;
    bool has_kind = false;
    for (const auto& kv : n)
        if (kv.first.Scalar() == "step") {
            kind_node = kv.second;
            has_kind = true;
        }
    if (!has_kind) c.fail(n.Mark(), "missing required key 'step' in a step");
    std::string names;
    const KindInfo* info = nullptr;
    for (const auto& k : kinds()) {
        names += (names.empty() ? "" : ", ") + std::string(k.name);
        if (kind_node.IsScalar() && kind_node.Scalar() == k.name) info = &k;
    }
    if (info == nullptr)
        c.fail(kind_node.Mark(), "unknown step '" +
                                     (kind_node.IsScalar() ? kind_node.Scalar() : "") +
                                     "'; expected one of: " + names);
    std::vector<std::string> allowed = {"id", "step"};
    allowed.insert(allowed.end(), info->keys.begin(), info->keys.end());
    MapReader r(c, n, std::string("a ") + info->name + " step", allowed);
    Step s;
    s.kind = info->kind;
    s.id = read_id(c, r);
    s.mark = mark_of(n);
    switch (s.kind) {
        case StepKind::Key: {
            s.token = r.str("token");
            s.label = r.str("label");
            s.algorithm = lower(r.str("algorithm"));
            static const std::regex alg("rsa:[0-9]{3,5}|ec:p-256|ec:p-384|ec:p-521|ed25519|ed448");
            if (!std::regex_match(s.algorithm, alg))
                c.fail(r.node("algorithm", true).Mark(),
                       "'algorithm' is '" + s.algorithm +
                           "'; expected rsa:BITS, ec:p-256, ec:p-384, ec:p-521, ed25519 or ed448");
            break;
        }
        case StepKind::Root:
            s.key = r.str("key");
            s.subject = r.str("subject");
            read_validity(c, r, s);
            s.eku = r.strings("eku");
            s.policies = r.strings("policies");
            s.allow_eku_policies = r.boolean("allow-eku-policies");
            break;
        case StepKind::Intermediate:
            s.issuer = r.str("issuer");
            s.key = r.str("key", false);
            s.csr = r.str("csr", false);
            if (s.key.empty() == s.csr.empty())
                c.fail(n.Mark(),
                       "an intermediate step needs exactly one of 'key' (a key step of "
                       "this ceremony) or 'csr' (an input holding the CA's request)");
            s.subject = r.str("subject");
            read_validity(c, r, s);
            s.eku = r.strings("eku");
            s.policies = r.strings("policies");
            break;
        case StepKind::CrossCertificate:
            s.issuer = r.str("issuer");
            s.certificate = r.str("certificate");
            read_validity(c, r, s);
            break;
        case StepKind::Csr:
            s.key = r.str("key");
            s.subject = r.str("subject");
            s.digest = lower(r.str("digest", false));
            break;
        case StepKind::Crl: {
            s.issuer = r.str("issuer");
            s.this_update = read_time(c, r, "this-update");
            s.next_update = read_time(c, r, "next-update");
            bool unused = false;
            s.crl_number = read_hex_number(c, r, "crl-number", false, &unused);
            s.digest = lower(r.str("digest", false));
            break;
        }
        case StepKind::StoreCert:
            s.certificate = r.str("certificate");
            s.token = r.str("token");
            s.label = r.str("label");
            break;
        case StepKind::CaDir:
            s.certificate = r.str("certificate");
            s.key = r.str("key");
            s.dir = read_relative_path(c, r, "dir");
            break;
    }
    return s;
}

// The list under `key`; an absent optional list is an empty sequence.
YAML::Node sequence(const Ctx& c, const MapReader& r, const std::string& key, bool required) {
    if (!required && !r.has(key)) return YAML::Node(YAML::NodeType::Sequence);
    YAML::Node v = r.node(key, required);
    if (!v.IsSequence() || (required && v.size() == 0))
        c.fail(v.Mark(),
               "'" + key + "' must be a " + (required ? "non-empty " : "") + "list (- items)");
    return v;
}

}  // namespace

const char* step_kind_name(StepKind k) {
    for (const auto& info : kinds())
        if (info.kind == k) return info.name;
    return "?";
}

std::string sha256_hex(const std::string& bytes) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_Digest(bytes.data(), bytes.size(), md, &len, EVP_sha256(), nullptr) != 1)
        throw OpenSslError("SHA-256");
    static const char* digits = "0123456789abcdef";
    std::string hex;
    for (unsigned int i = 0; i < len; ++i) {
        hex += digits[md[i] >> 4];
        hex += digits[md[i] & 15];
    }
    return hex;
}

std::string format_time(int64_t t) {
    time_t tt = static_cast<time_t>(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

File parse(const std::string& text, const std::string& path) {
    Ctx c{path};
    YAML::Node root;
    try {
        root = YAML::Load(text);
    } catch (const YAML::Exception& e) {
        c.fail(e.mark, "not valid YAML: " + e.msg);
    }
    check_tree(c, root);
    MapReader top(c, root, "a ceremony file",
                  {"tokensign-ceremony", "name", "tokens", "inputs", "steps"});
    if (!top.has("tokensign-ceremony"))
        c.fail(root.Mark(), "not a ceremony file: the first key must be 'tokensign-ceremony: 1'");
    File f;
    f.path = path;
    f.sha256 = sha256_hex(text);
    f.version = static_cast<int>(*top.integer("tokensign-ceremony", 1, 1));
    f.name = top.str("name");
    for (const auto& t : sequence(c, top, "tokens", true)) f.tokens.push_back(read_token(c, t));
    for (const auto& i : sequence(c, top, "inputs", false)) f.inputs.push_back(read_input(c, i));
    for (const auto& s : sequence(c, top, "steps", true)) f.steps.push_back(read_step(c, s));
    return f;
}

File load(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw FileError(path + ": cannot read the ceremony file");
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) throw FileError(path + ": cannot read the ceremony file");
    return parse(text.str(), path);
}

}  // namespace ts::signer::ceremony
