// SPDX-License-Identifier: Apache-2.0
// CK_RV names and messages (hsm/error).
#include "hsm/error.hpp"

#include <gtest/gtest.h>

#include <string>

namespace ts::hsm {
namespace {

TEST(ErrorTest, NamesKnownAndUnknownReturnValues) {
    EXPECT_EQ(rv_name(CKR_PIN_INCORRECT), "CKR_PIN_INCORRECT");
    EXPECT_EQ(rv_name(CKR_ATTRIBUTE_SENSITIVE), "CKR_ATTRIBUTE_SENSITIVE");
    EXPECT_EQ(rv_name(CKR_PIN_LOCKED), "CKR_PIN_LOCKED");
    EXPECT_EQ(rv_name(0x0fff1234ul), "CKR_0x0fff1234");
}

TEST(ErrorTest, ThrowRvSaysFunctionContextAndName) {
    try {
        throw_rv(CKR_PIN_INCORRECT, "C_Login", "token 'root-ca'");
    } catch (const Pkcs11Error& e) {
        std::string m = e.what();
        EXPECT_EQ(e.rv(), CKR_PIN_INCORRECT);
        EXPECT_EQ(e.function(), "C_Login");
        EXPECT_NE(m.find("C_Login"), std::string::npos) << m;
        EXPECT_NE(m.find("token 'root-ca'"), std::string::npos) << m;
        EXPECT_NE(m.find("CKR_PIN_INCORRECT"), std::string::npos) << m;
        EXPECT_NE(m.find(rv_advice(CKR_PIN_INCORRECT)), std::string::npos) << m;
        return;
    }
    ADD_FAILURE() << "throw_rv did not throw Pkcs11Error";
}

TEST(ErrorTest, CheckRvPassesOk) {
    EXPECT_NO_THROW(check_rv(CKR_OK, "C_Sign", "x"));
    EXPECT_THROW(check_rv(CKR_DEVICE_ERROR, "C_Sign", "x"), Pkcs11Error);
}

TEST(ErrorTest, AuthenticationFailuresAreRecognised) {
    for (CK_RV rv : {CKR_PIN_INCORRECT, CKR_PIN_LOCKED, CKR_PIN_EXPIRED, CKR_PIN_INVALID,
                     CKR_PIN_LEN_RANGE, CKR_USER_NOT_LOGGED_IN}) {
        EXPECT_TRUE(Pkcs11Error(rv, "C_Login", "m").is_authentication_failure()) << rv_name(rv);
    }
    for (CK_RV rv : {CKR_DEVICE_ERROR, CKR_MECHANISM_INVALID, CKR_GENERAL_ERROR}) {
        EXPECT_FALSE(Pkcs11Error(rv, "C_Sign", "m").is_authentication_failure()) << rv_name(rv);
    }
}

TEST(ErrorTest, AdviceSaysWhatToDo) {
    EXPECT_NE(rv_advice(CKR_PIN_INCORRECT).find("PIN"), std::string::npos);
    EXPECT_NE(rv_advice(CKR_PIN_LOCKED).find("locked"), std::string::npos);
    EXPECT_FALSE(rv_advice(0x0fff1234ul).empty());
}

}  // namespace
}  // namespace ts::hsm
