// SPDX-License-Identifier: Apache-2.0
#include "hsm/error.hpp"

#include <cstdio>

#include <openssl/err.h>

namespace ts::hsm {

namespace {

struct RvText {
    CK_RV rv;
    const char* name;
    const char* advice;
};

// PKCS#11 v2.40 §5.1 (return values). The advice says what a user can do about it.
constexpr RvText kRvTexts[] = {
    {CKR_OK, "CKR_OK", "success"},
    {CKR_CANCEL, "CKR_CANCEL", "the operation was cancelled"},
    {CKR_HOST_MEMORY, "CKR_HOST_MEMORY", "the host ran out of memory"},
    {CKR_SLOT_ID_INVALID, "CKR_SLOT_ID_INVALID",
     "the slot does not exist; run 'tokensign token list' to see the slots"},
    {CKR_GENERAL_ERROR, "CKR_GENERAL_ERROR",
     "the token or its module failed; check the device and the module's logs"},
    {CKR_FUNCTION_FAILED, "CKR_FUNCTION_FAILED", "the token could not perform the function"},
    {CKR_ARGUMENTS_BAD, "CKR_ARGUMENTS_BAD", "the module rejected the arguments"},
    {CKR_CANT_LOCK, "CKR_CANT_LOCK", "the module cannot provide the locking tokensign needs"},
    {CKR_ATTRIBUTE_READ_ONLY, "CKR_ATTRIBUTE_READ_ONLY", "an attribute cannot be set"},
    {CKR_ATTRIBUTE_SENSITIVE, "CKR_ATTRIBUTE_SENSITIVE",
     "the attribute is sensitive and cannot be read from the token"},
    {CKR_ATTRIBUTE_TYPE_INVALID, "CKR_ATTRIBUTE_TYPE_INVALID",
     "the object does not have that attribute"},
    {CKR_ATTRIBUTE_VALUE_INVALID, "CKR_ATTRIBUTE_VALUE_INVALID",
     "the token does not accept an attribute value (key size or curve not supported?)"},
    {CKR_DATA_INVALID, "CKR_DATA_INVALID", "the token rejected the input data"},
    {CKR_DATA_LEN_RANGE, "CKR_DATA_LEN_RANGE", "the input is too long or too short for the key"},
    {CKR_DEVICE_ERROR, "CKR_DEVICE_ERROR", "the device reported an error; check the token"},
    {CKR_DEVICE_MEMORY, "CKR_DEVICE_MEMORY", "the token is out of memory (too many objects?)"},
    {CKR_DEVICE_REMOVED, "CKR_DEVICE_REMOVED", "the token was removed; insert it and retry"},
    {CKR_ENCRYPTED_DATA_INVALID, "CKR_ENCRYPTED_DATA_INVALID", "the ciphertext is invalid"},
    {CKR_ENCRYPTED_DATA_LEN_RANGE, "CKR_ENCRYPTED_DATA_LEN_RANGE",
     "the ciphertext has the wrong length for the key"},
    {CKR_FUNCTION_CANCELED, "CKR_FUNCTION_CANCELED", "the operation was cancelled on the token"},
    {CKR_FUNCTION_NOT_SUPPORTED, "CKR_FUNCTION_NOT_SUPPORTED",
     "the module does not support this function"},
    {CKR_KEY_HANDLE_INVALID, "CKR_KEY_HANDLE_INVALID",
     "the key is no longer on the token (deleted by another program?)"},
    {CKR_KEY_SIZE_RANGE, "CKR_KEY_SIZE_RANGE", "the token does not support this key size"},
    {CKR_KEY_TYPE_INCONSISTENT, "CKR_KEY_TYPE_INCONSISTENT",
     "the key type does not fit the mechanism"},
    {CKR_KEY_FUNCTION_NOT_PERMITTED, "CKR_KEY_FUNCTION_NOT_PERMITTED",
     "the key's attributes do not allow this use (e.g. CKA_SIGN or CKA_DECRYPT is false)"},
    {CKR_MECHANISM_INVALID, "CKR_MECHANISM_INVALID",
     "the token does not offer this mechanism; see 'tokensign token mechanisms'"},
    {CKR_MECHANISM_PARAM_INVALID, "CKR_MECHANISM_PARAM_INVALID",
     "the token rejected the mechanism parameters"},
    {CKR_OBJECT_HANDLE_INVALID, "CKR_OBJECT_HANDLE_INVALID", "the object is no longer on the token"},
    {CKR_OPERATION_ACTIVE, "CKR_OPERATION_ACTIVE", "another operation is active on the session"},
    {CKR_OPERATION_NOT_INITIALIZED, "CKR_OPERATION_NOT_INITIALIZED",
     "no operation was started on the session"},
    {CKR_PIN_INCORRECT, "CKR_PIN_INCORRECT",
     "the PIN was rejected; check it before trying again (each wrong try counts towards locking "
     "the token)"},
    {CKR_PIN_INVALID, "CKR_PIN_INVALID", "the PIN has characters the token does not accept"},
    {CKR_PIN_LEN_RANGE, "CKR_PIN_LEN_RANGE", "the PIN is too long or too short for the token"},
    {CKR_PIN_EXPIRED, "CKR_PIN_EXPIRED",
     "the PIN has expired; change it with the token's tools before signing"},
    {CKR_PIN_LOCKED, "CKR_PIN_LOCKED",
     "the user PIN is locked; the security officer must unlock it (e.g. softhsm2-util or the "
     "vendor's tool) before the token can be used"},
    {CKR_SESSION_CLOSED, "CKR_SESSION_CLOSED", "the session was closed"},
    {CKR_SESSION_COUNT, "CKR_SESSION_COUNT", "the token has no more sessions available"},
    {CKR_SESSION_HANDLE_INVALID, "CKR_SESSION_HANDLE_INVALID", "the session is no longer valid"},
    {CKR_SESSION_READ_ONLY, "CKR_SESSION_READ_ONLY", "the session is read-only"},
    {CKR_SESSION_EXISTS, "CKR_SESSION_EXISTS", "a session is already open"},
    {CKR_SESSION_READ_ONLY_EXISTS, "CKR_SESSION_READ_ONLY_EXISTS",
     "a read-only session exists, so the security officer cannot log in"},
    {CKR_SESSION_READ_WRITE_SO_EXISTS, "CKR_SESSION_READ_WRITE_SO_EXISTS",
     "a security-officer session exists"},
    {CKR_SIGNATURE_INVALID, "CKR_SIGNATURE_INVALID", "the signature does not verify"},
    {CKR_SIGNATURE_LEN_RANGE, "CKR_SIGNATURE_LEN_RANGE", "the signature has the wrong length"},
    {CKR_TEMPLATE_INCOMPLETE, "CKR_TEMPLATE_INCOMPLETE",
     "the token needs attributes tokensign did not give"},
    {CKR_TEMPLATE_INCONSISTENT, "CKR_TEMPLATE_INCONSISTENT",
     "the token refused the combination of attributes"},
    {CKR_TOKEN_NOT_PRESENT, "CKR_TOKEN_NOT_PRESENT", "no token is in the slot; insert it"},
    {CKR_TOKEN_NOT_RECOGNIZED, "CKR_TOKEN_NOT_RECOGNIZED", "the module does not recognise the token"},
    {CKR_TOKEN_WRITE_PROTECTED, "CKR_TOKEN_WRITE_PROTECTED", "the token is write-protected"},
    {CKR_USER_ALREADY_LOGGED_IN, "CKR_USER_ALREADY_LOGGED_IN", "the user is already logged in"},
    {CKR_USER_NOT_LOGGED_IN, "CKR_USER_NOT_LOGGED_IN",
     "the operation needs a login; give a PIN (pin-source, TOKENSIGN_PIN or the prompt)"},
    {CKR_USER_PIN_NOT_INITIALIZED, "CKR_USER_PIN_NOT_INITIALIZED",
     "the token's user PIN was never set; initialise the token first"},
    {CKR_USER_TYPE_INVALID, "CKR_USER_TYPE_INVALID", "the token does not know that user type"},
    {CKR_USER_ANOTHER_ALREADY_LOGGED_IN, "CKR_USER_ANOTHER_ALREADY_LOGGED_IN",
     "another user (the security officer?) is logged in"},
    {CKR_USER_TOO_MANY_TYPES, "CKR_USER_TOO_MANY_TYPES", "too many users are logged in"},
    {CKR_BUFFER_TOO_SMALL, "CKR_BUFFER_TOO_SMALL", "an output buffer was too small"},
    {CKR_CRYPTOKI_NOT_INITIALIZED, "CKR_CRYPTOKI_NOT_INITIALIZED",
     "the module was not initialised"},
    {CKR_CRYPTOKI_ALREADY_INITIALIZED, "CKR_CRYPTOKI_ALREADY_INITIALIZED",
     "the module was already initialised"},
    {CKR_CURVE_NOT_SUPPORTED, "CKR_CURVE_NOT_SUPPORTED", "the token does not support this curve"},
    {CKR_DOMAIN_PARAMS_INVALID, "CKR_DOMAIN_PARAMS_INVALID",
     "the token does not accept these domain parameters (curve)"},
    {CKR_RANDOM_NO_RNG, "CKR_RANDOM_NO_RNG", "the token has no random number generator"},
    {CKR_NEED_TO_CREATE_THREADS, "CKR_NEED_TO_CREATE_THREADS", "the module needs to create threads"},
};

}  // namespace

QueueGuard::QueueGuard() noexcept { ERR_set_mark(); }
QueueGuard::~QueueGuard() { ERR_pop_to_mark(); }

bool Pkcs11Error::is_authentication_failure() const noexcept {
    switch (m_rv) {
        case CKR_PIN_INCORRECT:
        case CKR_PIN_INVALID:
        case CKR_PIN_LEN_RANGE:
        case CKR_PIN_EXPIRED:
        case CKR_PIN_LOCKED:
        case CKR_USER_NOT_LOGGED_IN:
        case CKR_USER_PIN_NOT_INITIALIZED:
        case CKR_USER_ANOTHER_ALREADY_LOGGED_IN:
            return true;
        default:
            return false;
    }
}

std::string rv_name(CK_RV rv) {
    for (const auto& t : kRvTexts)
        if (t.rv == rv) return t.name;
    char buf[32];
    std::snprintf(buf, sizeof buf, "CKR_0x%08lx", static_cast<unsigned long>(rv));
    return buf;
}

std::string rv_advice(CK_RV rv) {
    for (const auto& t : kRvTexts)
        if (t.rv == rv) return t.advice;
    if (rv >= CKR_VENDOR_DEFINED) return "the module returned a vendor-specific error";
    return "the module returned an error tokensign does not know";
}

void throw_rv(CK_RV rv, std::string_view function, std::string_view context) {
    std::string msg;
    if (!context.empty()) {
        msg.append(context);
        msg += ": ";
    }
    msg.append(function);
    msg += " failed: ";
    msg += rv_advice(rv);
    msg += " (" + rv_name(rv) + ")";
    throw Pkcs11Error(rv, std::string(function), msg);
}

}  // namespace ts::hsm
