// SPDX-License-Identifier: Apache-2.0
#include "hsm/object.hpp"

#include "hsm/attributes.hpp"
#include "hsm/error.hpp"
#include "hsm/token.hpp"
#include "hsm/uri.hpp"

namespace ts::hsm {

namespace {

/// C_FindObjectsInit ... C_FindObjectsFinal, Final guaranteed even when C_FindObjects throws.
class ObjectFinder {
  public:
    ObjectFinder(Session& s, AttributeTemplate& t) : m_s(s) {
        check_rv(s.fn()->C_FindObjectsInit(s.handle(), t.data(), t.count()), "C_FindObjectsInit",
                 "searching " + s.token().what());
    }
    ~ObjectFinder() {
        if (!m_finished) m_s.fn()->C_FindObjectsFinal(m_s.handle());
    }
    /// C_FindObjectsFinal after a complete search. A failure is the token's and is reported; the
    /// search may still be active, so the session is closed, not pooled (its next
    /// C_FindObjectsInit would fail with CKR_OPERATION_ACTIVE).
    void finish() {
        m_finished = true;
        CK_RV rv = m_s.fn()->C_FindObjectsFinal(m_s.handle());
        if (rv == CKR_OK) return;
        std::string what = "searching " + m_s.token().what();
        m_s.invalidate();
        throw_rv(rv, "C_FindObjectsFinal", what);
    }
    ObjectFinder(const ObjectFinder&) = delete;
    ObjectFinder& operator=(const ObjectFinder&) = delete;

    std::vector<CK_OBJECT_HANDLE> all() {
        std::vector<CK_OBJECT_HANDLE> out;
        CK_OBJECT_HANDLE batch[32];
        for (;;) {
            CK_ULONG n = 0;
            check_rv(m_s.fn()->C_FindObjects(m_s.handle(), batch, 32, &n), "C_FindObjects",
                     "searching " + m_s.token().what());
            out.insert(out.end(), batch, batch + n);
            if (n < 32) return out;
        }
    }

  private:
    Session& m_s;
    bool m_finished = false;
};

std::string describe_query(const ObjectQuery& q) { return q.describe(); }

// Whether the token lists any object to this session (an empty template matches every one).
bool has_any_object(Session& s) {
    AttributeTemplate none;
    ObjectFinder finder(s, none);
    CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
    CK_ULONG n = 0;
    check_rv(s.fn()->C_FindObjects(s.handle(), &h, 1, &n), "C_FindObjects",
             "searching " + s.token().what());
    finder.finish();
    return n != 0;
}

}  // namespace

std::string ObjectQuery::describe() const {
    std::string out = cls ? class_name(*cls) : std::string("object");
    const char* join = " with";
    auto add = [&](const std::string& what) {
        out += std::string(join) + " " + what;
        join = " and";
    };
    if (label) add("label '" + *label + "'");
    if (id) add("id " + to_hex(*id));
    if (subject) add("the subject searched for");
    if (issuer || serial) add("the issuer and serial number searched for");
    return out;
}

ObjectQuery ObjectQuery::from_uri(const Uri& uri) {
    ObjectQuery q;
    q.cls = uri.type();
    q.id = uri.id();
    q.label = uri.object();
    return q;
}

std::string ObjectInfo::describe() const {
    std::string out = class_name(cls);
    if (cls == CKO_PRIVATE_KEY || cls == CKO_PUBLIC_KEY)
        out += " (" + key_type_name(key_type) + ")";
    out += " '" + label + "'";
    if (!id.empty()) out += " id " + to_hex(id);
    return out;
}

std::vector<ObjectInfo> find_objects(Session& s, const ObjectQuery& q) {
    AttributeTemplate t;
    if (q.cls) t.add_ulong(CKA_CLASS, *q.cls);
    if (q.id) t.add_bytes(CKA_ID, *q.id);
    if (q.label) t.add_string(CKA_LABEL, *q.label);
    if (q.subject) t.add_bytes(CKA_SUBJECT, *q.subject);
    if (q.issuer) t.add_bytes(CKA_ISSUER, *q.issuer);
    if (q.serial) t.add_bytes(CKA_SERIAL_NUMBER, *q.serial);
    if (q.token_objects_only) t.add_bool(CKA_TOKEN, true);
    std::vector<CK_OBJECT_HANDLE> handles;
    {
        ObjectFinder finder(s, t);
        handles = finder.all();
        finder.finish();
    }
    std::vector<ObjectInfo> out;
    out.reserve(handles.size());
    for (CK_OBJECT_HANDLE h : handles) {
        static constexpr CK_ATTRIBUTE_TYPE kRead[] = {CKA_CLASS, CKA_KEY_TYPE, CKA_ID, CKA_LABEL};
        auto v = get_attributes(s, h, kRead);
        ObjectInfo o;
        o.handle = h;
        o.cls = as_ulong(v[0]).value_or(CKO_VENDOR_DEFINED);
        if (o.cls == CKO_PRIVATE_KEY || o.cls == CKO_PUBLIC_KEY || o.cls == CKO_SECRET_KEY) {
            o.key_type = as_ulong(v[1]).value_or(CKK_VENDOR_DEFINED);
        }
        o.id = v[2].value_or(std::vector<unsigned char>{});
        if (v[3]) o.label.assign(v[3]->begin(), v[3]->end());
        out.push_back(std::move(o));
    }
    return out;
}

ObjectInfo find_one(Session& s, const ObjectQuery& q) {
    auto found = find_objects(s, q);
    if (found.size() == 1) return found.front();
    if (found.empty()) {
        std::string hint =
            s.token().logged_in() ? "" : " (private objects are visible only after login)";
        if (!has_any_object(s)) {
            // Not the same as "no such key": a token whose store was blanked (SoftHSM2 rewrites
            // its token file at login, and a process killed then leaves it empty for others)
            // lists nothing at all. Nobody should conclude the key is gone and make another.
            hint +=
                "; the token reported no objects at all: if it should hold keys, do not "
                "replace them yet, but check the token (for SoftHSM2, its token directory "
                "or a backup of it) and try again";
        }
        throw SelectionError("no " + describe_query(q) + " on " + s.token().what() + hint);
    }
    std::string list;
    for (const auto& o : found) list += "\n  " + o.describe();
    throw SelectionError(std::to_string(found.size()) + " objects match " + describe_query(q) +
                         " on " + s.token().what() +
                         "; name one with id= and type= in the URI:" + list);
}

std::string class_name(CK_OBJECT_CLASS c) {
    switch (c) {
        case CKO_PRIVATE_KEY:
            return "private key";
        case CKO_PUBLIC_KEY:
            return "public key";
        case CKO_CERTIFICATE:
            return "certificate";
        case CKO_SECRET_KEY:
            return "secret key";
        case CKO_DATA:
            return "data object";
        default:
            return "object";
    }
}

std::string key_type_name(CK_KEY_TYPE k) {
    switch (k) {
        case CKK_RSA:
            return "RSA";
        case CKK_EC:
            return "EC";
        case CKK_EC_EDWARDS:
            return "EdDSA";
        case CKK_DSA:
            return "DSA";
        case CKK_AES:
            return "AES";
        default:
            return "key type " + std::to_string(k);
    }
}

void destroy_object(Session& s, CK_OBJECT_HANDLE obj) {
    check_rv(s.fn()->C_DestroyObject(s.handle(), obj), "C_DestroyObject",
             "deleting an object on " + s.token().what());
}

}  // namespace ts::hsm
