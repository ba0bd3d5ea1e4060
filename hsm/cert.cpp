// SPDX-License-Identifier: Apache-2.0
#include "hsm/cert.hpp"

#include <openssl/err.h>
#include <openssl/x509.h>

#include "hsm/attributes.hpp"
#include "hsm/error.hpp"
#include "hsm/ossl.hpp"
#include "hsm/token.hpp"
#include "hsm/uri.hpp"

namespace ts::hsm {

namespace {
template <class T, class F>
std::vector<unsigned char> der_of(T* obj, F i2d) {
    auto out = to_der(obj, i2d);
    if (out.empty()) throw Error("cannot encode a certificate field");
    return out;
}
}  // namespace

ObjectInfo import_certificate(Session& s, std::span<const unsigned char> der,
                              const std::string& label, std::span<const unsigned char> id) {
    const unsigned char* p = der.data();
    OsslPtr<X509> x(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
    if (!x || p != der.data() + der.size()) {
        ERR_clear_error();
        throw Error("the certificate to import is not a single valid DER X.509 certificate");
    }
    if (label.empty()) throw Error("a certificate on the token needs a label");
    for (bool by_label : {true, false}) {
        if (!by_label && id.empty()) continue;
        ObjectQuery q;
        q.cls = CKO_CERTIFICATE;
        if (by_label)
            q.label = label;
        else
            q.id = std::vector<unsigned char>(id.begin(), id.end());
        if (!find_objects(s, q).empty()) {
            throw SelectionError(
                "a certificate with " + (by_label ? "label '" + label + "'" : "id " + to_hex(id)) +
                " is already on " + s.token().what() + "; tokensign does not overwrite it");
        }
    }
    auto subject = der_of(X509_get_subject_name(x.get()), i2d_X509_NAME);
    auto issuer = der_of(X509_get_issuer_name(x.get()), i2d_X509_NAME);
    auto serial = der_of(X509_get0_serialNumber(x.get()), i2d_ASN1_INTEGER);

    AttributeTemplate t;
    t.add_ulong(CKA_CLASS, CKO_CERTIFICATE)
        .add_ulong(CKA_CERTIFICATE_TYPE, CKC_X_509)
        .add_bool(CKA_TOKEN, true)
        .add_bool(CKA_PRIVATE, false)
        .add_string(CKA_LABEL, label)
        .add_bytes(CKA_SUBJECT, subject)
        .add_bytes(CKA_ISSUER, issuer)
        .add_bytes(CKA_SERIAL_NUMBER, serial)
        .add_bytes(CKA_VALUE, der);
    if (!id.empty()) t.add_bytes(CKA_ID, id);
    CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
    check_rv(s.fn()->C_CreateObject(s.handle(), t.data(), t.count(), &h), "C_CreateObject",
             "storing a certificate on " + s.token().what());
    return ObjectInfo{h, CKO_CERTIFICATE, CKK_VENDOR_DEFINED,
                      std::vector<unsigned char>(id.begin(), id.end()), label};
}

std::vector<CertificateObject> read_certificates(Session& s, ObjectQuery q) {
    q.cls = CKO_CERTIFICATE;
    std::vector<CertificateObject> out;
    for (auto& o : find_objects(s, q)) {
        auto der = get_attribute(s, o.handle, CKA_VALUE);
        out.push_back({std::move(o), der.value_or(std::vector<unsigned char>{})});
    }
    return out;
}

}  // namespace ts::hsm
