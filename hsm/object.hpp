// SPDX-License-Identifier: Apache-2.0
// Finding objects by a C_FindObjects template (never by enumerating everything).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "hsm/pkcs11.hpp"

namespace ts::hsm {

class Session;
class Uri;

/// What to look for. Unset fields are not part of the template.
struct ObjectQuery {
    std::optional<CK_OBJECT_CLASS> cls;
    std::optional<std::vector<unsigned char>> id;
    std::optional<std::string> label;
    /// DER X.509 names and serial (certificates): CKA_SUBJECT, CKA_ISSUER, CKA_SERIAL_NUMBER.
    std::optional<std::vector<unsigned char>> subject;
    std::optional<std::vector<unsigned char>> issuer;
    std::optional<std::vector<unsigned char>> serial;
    /// CKA_TOKEN true: no session objects (such as tokensign's own session copy of a key).
    bool token_objects_only = false;
    /// id, object (label) and type from a URI.
    static ObjectQuery from_uri(const Uri& uri);
    /// True when anything but the class narrows the search (a label, id, subject, ...).
    bool names_objects() const noexcept { return id || label || subject || issuer || serial; }
    /// "private key with label 'k' and id 01"
    std::string describe() const;
};

/// An object found on the token, with the attributes that identify it.
struct ObjectInfo {
    CK_OBJECT_HANDLE handle = CK_INVALID_HANDLE;
    CK_OBJECT_CLASS cls = 0;
    CK_KEY_TYPE key_type = CKK_VENDOR_DEFINED;  // keys only
    std::vector<unsigned char> id;
    std::string label;
    /// "private key 'root' id 01"
    std::string describe() const;
};

/// C_FindObjectsInit/C_FindObjects/C_FindObjectsFinal with the query as template; reads class,
/// key type, id and label of each match.
std::vector<ObjectInfo> find_objects(Session& s, const ObjectQuery& q);

/// Exactly one match. Throws SelectionError when none ("no private key with label 'x' on token
/// 'y'") or several (listing each) match.
ObjectInfo find_one(Session& s, const ObjectQuery& q);

/// "private key", "public key", "certificate", "secret key", "data object".
std::string class_name(CK_OBJECT_CLASS cls);
/// "RSA", "EC", "Ed25519/Ed448 (EC_EDWARDS)".
std::string key_type_name(CK_KEY_TYPE kt);

/// C_DestroyObject.
void destroy_object(Session& s, CK_OBJECT_HANDLE obj);

}  // namespace ts::hsm
