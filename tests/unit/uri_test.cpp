// SPDX-License-Identifier: Apache-2.0
// RFC 7512 URI parsing and formatting (hsm/uri): every attribute, encodings, hostile input.
#include "hsm/uri.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "hsm/error.hpp"

namespace ts::hsm {
namespace {

using Bytes = std::vector<unsigned char>;

std::string uri_error(const std::string& text) {
    try {
        (void)parse_uri(text);
    } catch (const UriError& e) {
        return e.what();
    }
    ADD_FAILURE() << "parse_uri accepted a malformed URI";
    return {};
}

template <std::size_t N>
void set_field(CK_UTF8CHAR (&f)[N], const std::string& value) {
    std::memset(f, ' ', N);
    std::memcpy(f, value.data(), std::min(N, value.size()));
}

CK_TOKEN_INFO token_info(const std::string& label, const std::string& serial) {
    CK_TOKEN_INFO ti{};
    set_field(ti.label, label);
    set_field(ti.manufacturerID, "SoftHSM project");
    set_field(ti.model, "SoftHSM v2");
    set_field(ti.serialNumber, serial);
    return ti;
}

TEST(UriTest, ParsesEveryTokenAndLibraryAttribute) {
    Uri u = parse_uri(
        "pkcs11:token=root-ca;manufacturer=SoftHSM%20project;serial=0123abcd;model=SoftHSM%20v2;"
        "library-manufacturer=SoftHSM;library-description=Implementation%20of%20PKCS11;"
        "slot-id=42");
    EXPECT_EQ(u.token(), "root-ca");
    EXPECT_EQ(u.manufacturer(), "SoftHSM project");
    EXPECT_EQ(u.serial(), "0123abcd");
    EXPECT_EQ(u.model(), "SoftHSM v2");
    EXPECT_EQ(u.library_manufacturer(), "SoftHSM");
    EXPECT_EQ(u.library_description(), "Implementation of PKCS11");
    EXPECT_EQ(u.slot_id(), CK_SLOT_ID{42});
    EXPECT_TRUE(u.has_token_attributes());
    EXPECT_FALSE(u.has_object_attributes());
}

TEST(UriTest, ParsesObjectAttributes) {
    Uri u = parse_uri("pkcs11:token=t;id=%01%02%ff%00;object=my%20key;type=private");
    EXPECT_EQ(u.id(), (Bytes{0x01, 0x02, 0xff, 0x00}));
    EXPECT_EQ(u.object(), "my key");
    EXPECT_EQ(u.type(), CKO_PRIVATE_KEY);
    EXPECT_TRUE(u.has_object_attributes());
    EXPECT_EQ(parse_uri("pkcs11:type=public").type(), CKO_PUBLIC_KEY);
    EXPECT_EQ(parse_uri("pkcs11:type=cert").type(), CKO_CERTIFICATE);
    EXPECT_EQ(parse_uri("pkcs11:type=secret-key").type(), CKO_SECRET_KEY);
    EXPECT_EQ(parse_uri("pkcs11:type=data").type(), CKO_DATA);
}

TEST(UriTest, UnsetAttributesAreEmpty) {
    Uri u = parse_uri("pkcs11:");
    EXPECT_FALSE(u.token());
    EXPECT_FALSE(u.serial());
    EXPECT_FALSE(u.slot_id());
    EXPECT_FALSE(u.id());
    EXPECT_FALSE(u.object());
    EXPECT_FALSE(u.type());
    EXPECT_FALSE(u.pin_source());
    EXPECT_EQ(u.pin_value(), nullptr);
    EXPECT_FALSE(u.module_path());
    EXPECT_FALSE(u.module_name());
    EXPECT_FALSE(u.has_token_attributes());
    EXPECT_FALSE(u.has_object_attributes());
    EXPECT_FALSE(Uri().token());
}

TEST(UriTest, ParsesQueryAttributes) {
    Uri u = parse_uri(
        "pkcs11:token=t?pin-source=file:/etc/tokensign/pin&module-path=/opt/hsm/lib%20x.so");
    EXPECT_EQ(u.pin_source(), "file:/etc/tokensign/pin");
    EXPECT_EQ(u.module_path(), "/opt/hsm/lib x.so");
    EXPECT_EQ(parse_uri("pkcs11:?module-name=softhsm2").module_name(), "softhsm2");
}

TEST(UriTest, PinValueIsKeptAsPinAndNeverFormatted) {
    Uri u = parse_uri("pkcs11:token=t?pin-value=s3cr%65t");
    ASSERT_NE(u.pin_value(), nullptr);
    auto b = u.pin_value()->bytes();
    EXPECT_EQ(std::string(b.begin(), b.end()), "s3cret");
    EXPECT_EQ(u.to_string().find("pin-value"), std::string::npos) << u.to_string();
    EXPECT_EQ(u.to_string().find("s3cr"), std::string::npos) << u.to_string();
}

// Found by fuzzing (tests/fuzz/corpus/uri/no-scheme-pin-value.txt): text without the scheme was
// echoed in the error, pin-value and PIN included.
TEST(UriTest, TextWithoutTheSchemeIsNeverEchoedFromItsPinValueOn) {
    for (const std::string text :
         {"pin-value=12345678", "object=k?pin-value=4711x", "token=a?PIN-VALUE=s3cret"}) {
        const std::string e = uri_error(text);
        EXPECT_NE(e.find("is not a pkcs11: URI"), std::string::npos) << e;
        EXPECT_EQ(e.find("pin-value"), std::string::npos) << e;
        EXPECT_EQ(e.find("PIN-VALUE"), std::string::npos) << e;
        for (const char* pin : {"12345678", "4711", "s3cret"})
            EXPECT_EQ(e.find(pin), std::string::npos) << e;
    }
    EXPECT_NE(uri_error("object=k?pin-value=4711").find("'object=k?...'"), std::string::npos);
}

TEST(UriTest, SchemeIsCaseInsensitive) {
    EXPECT_TRUE(is_pkcs11_uri("PKCS11:token=a"));
    EXPECT_TRUE(is_pkcs11_uri("pkcs11:"));
    EXPECT_FALSE(is_pkcs11_uri("pkcs11"));
    EXPECT_FALSE(is_pkcs11_uri("/path/key.pem"));
    EXPECT_EQ(parse_uri("PKCS11:token=a").token(), "a");
}

TEST(UriTest, ToStringRoundTrips) {
    Uri u = parse_uri("pkcs11:token=my%20token;id=%0a%0b;object=k;type=private");
    Uri again = parse_uri(u.to_string());
    EXPECT_EQ(again.token(), "my token");
    EXPECT_EQ(again.id(), (Bytes{0x0a, 0x0b}));
    EXPECT_EQ(again.object(), "k");
    EXPECT_EQ(again.type(), CKO_PRIVATE_KEY);
}

TEST(UriTest, MalformedPercentEncodingNamesThePart) {
    std::string e = uri_error("pkcs11:token=t;id=%zz");
    EXPECT_NE(e.find("id=%zz"), std::string::npos) << e;
    e = uri_error("pkcs11:object=abc%4");
    EXPECT_NE(e.find("object=abc%4"), std::string::npos) << e;
}

TEST(UriTest, UnknownAttributeIsNamed) {
    std::string e = uri_error("pkcs11:tokn=root");
    EXPECT_NE(e.find("tokn"), std::string::npos) << e;
    e = uri_error("pkcs11:token=a?colour=blue");
    EXPECT_NE(e.find("colour"), std::string::npos) << e;
}

TEST(UriTest, BadValuesAreNamed) {
    std::string e = uri_error("pkcs11:type=privat");
    EXPECT_NE(e.find("privat"), std::string::npos) << e;
    e = uri_error("pkcs11:slot-id=12a");
    EXPECT_NE(e.find("slot-id"), std::string::npos) << e;
    e = uri_error("pkcs11:token");
    EXPECT_NE(e.find("token"), std::string::npos) << e;
    e = uri_error("pkcs11:id=%01?token=x");
    EXPECT_NE(e.find("token"), std::string::npos) << e;
}

TEST(UriTest, UnencodedSpaceIsRefusedWithTheEncodedForm) {
    // p11-kit deletes unencoded whitespace: "test Cert" would silently name "testCert".
    std::string e = uri_error("pkcs11:token=t;object=test Cert;type=cert");
    EXPECT_NE(e.find("a space"), std::string::npos) << e;
    EXPECT_NE(e.find("'object=test%20Cert'"), std::string::npos) << e;
    EXPECT_NE(e.find("pkcs11:token=t;object=test%20Cert;type=cert"), std::string::npos) << e;
    e = uri_error("pkcs11:object=RSA Pkey Test");
    EXPECT_NE(e.find("object=RSA%20Pkey%20Test"), std::string::npos) << e;
    EXPECT_EQ(parse_uri("pkcs11:token=t;object=test%20Cert").object(), "test Cert");
}

TEST(UriTest, EveryCharacterThatMustBeEncodedIsRefused) {
    for (const char* text :
         {"pkcs11:object=a#b", "pkcs11:object=a\"b", "pkcs11:token=Z\xc3\xbcrich",
          "pkcs11:object=a\tb", "pkcs11:object=a/b", "pkcs11:object=a<b>",
          "pkcs11:token=t?pin-source=/tmp/my pin", "pkcs11:object=a\\b"}) {
        std::string e = uri_error(text);
        EXPECT_NE(e.find("percent-encoded"), std::string::npos) << text << " -> " << e;
    }
    std::string e = uri_error("pkcs11:token=t?pin-source=/tmp/my pin");
    EXPECT_NE(e.find("pkcs11:token=t?pin-source=/tmp/my%20pin"), std::string::npos) << e;
    e = uri_error("pkcs11:token=Z\xc3\xbcrich");
    EXPECT_NE(e.find("token=Z%C3%BCrich"), std::string::npos) << e;
    // What RFC 7512 lets a value hold unencoded is taken exactly as written.
    EXPECT_EQ(parse_uri("pkcs11:object=a&b:c[d]@!$'()*+,=-._~").object(), "a&b:c[d]@!$'()*+,=-._~");
    EXPECT_EQ(parse_uri("pkcs11:token=t?pin-source=file:/a/b?c|d").pin_source(), "file:/a/b?c|d");
}

TEST(UriTest, QueryAttributeInThePathIsRefusedWithTheRewrittenUri) {
    // Engine-era URIs put pin-source in the path.
    std::string e = uri_error("pkcs11:token=a;object=k;pin-source=file:/etc/pin;type=private");
    EXPECT_NE(e.find("pkcs11:token=a;object=k;type=private?pin-source=file:/etc/pin"),
              std::string::npos)
        << e;
    EXPECT_NO_THROW(parse_uri("pkcs11:token=a;object=k;type=private?pin-source=file:/etc/pin"));
    e = uri_error("pkcs11:token=a;pin-value=hunter2;object=k");
    EXPECT_NE(e.find("pkcs11:token=a;object=k?pin-value=<PIN>"), std::string::npos) << e;
    EXPECT_EQ(e.find("hunter2"), std::string::npos) << e;
    e = uri_error("pkcs11:token=a?pin-source=/p&object=k");
    EXPECT_NE(e.find("pkcs11:token=a;object=k?pin-source=/p"), std::string::npos) << e;
}

TEST(UriTest, NotAUriIsRefused) {
    std::string e = uri_error("file:/tmp/key.pem");
    EXPECT_NE(e.find("pkcs11:"), std::string::npos) << e;
    EXPECT_FALSE(uri_error("").empty());
}

TEST(UriTest, PinValueNeverAppearsInErrors) {
    for (const char* text :
         {"pkcs11:token=a?pin-value=hunter2%zz", "pkcs11:token=a?pin-value=hunter2&bogus=1",
          "pkcs11:tokn=a?pin-value=hunter2", "pkcs11:token=a;pin-value=hunter2",
          "pkcs11:token=a?pin-value=hunter2%"}) {
        std::string e = uri_error(text);
        EXPECT_FALSE(e.empty()) << text;
        EXPECT_EQ(e.find("hunter2"), std::string::npos) << text << " -> " << e;
    }
    // Not a pkcs11: URI at all, but a PIN typed in the wrong place must not be echoed whole.
    std::string e = uri_error("pkcs1:token=a?pin-value=hunter2");
    EXPECT_EQ(e.find("hunter2"), std::string::npos) << e;
}

TEST(UriTest, HostileInputIsRefusedCleanly) {
    // Control characters are not echoed raw (they would garble the terminal).
    std::string e = uri_error(std::string("pkcs11:tok\x1b[2Jen=a"));
    EXPECT_EQ(e.find('\x1b'), std::string::npos);
    // An embedded NUL cannot hide the rest of the URI from the checks.
    EXPECT_FALSE(uri_error(std::string("pkcs11:token=a\0;evil=1", 22)).empty());
    // Very long input: refused or parsed, never crashes, and the error stays short.
    std::string longbad = "pkcs11:" + std::string(100000, 'x') + "=1";
    e = uri_error(longbad);
    EXPECT_LT(e.size(), 1000u);
    std::string longid = "pkcs11:id=";
    for (int i = 0; i < 5000; ++i) longid += "%41";
    EXPECT_EQ(parse_uri(longid).id()->size(), 5000u);
}

TEST(UriTest, MatchesTokenByPaddedFields) {
    CK_TOKEN_INFO ti = token_info("root-ca", "abc123");
    EXPECT_TRUE(parse_uri("pkcs11:token=root-ca").matches_token(ti));
    EXPECT_TRUE(parse_uri("pkcs11:serial=abc123;model=SoftHSM%20v2").matches_token(ti));
    EXPECT_TRUE(parse_uri("pkcs11:").matches_token(ti));
    EXPECT_FALSE(parse_uri("pkcs11:token=root").matches_token(ti));
    EXPECT_FALSE(parse_uri("pkcs11:token=root-ca;serial=abc124").matches_token(ti));
}

TEST(UriTest, ObjectUriEncodesAndRoundTrips) {
    CK_TOKEN_INFO ti = token_info("my token;x?", "77");
    Bytes id{0x00, 0x41, 0xfe};
    std::string s = object_uri(ti, id, "key/1 %", CKO_PRIVATE_KEY);
    Uri u = parse_uri(s);
    EXPECT_EQ(u.token(), "my token;x?");
    EXPECT_EQ(u.serial(), "77");
    EXPECT_EQ(u.model(), "SoftHSM v2");
    EXPECT_EQ(u.manufacturer(), "SoftHSM project");
    EXPECT_EQ(u.id(), id);
    EXPECT_EQ(u.object(), "key/1 %");
    EXPECT_EQ(u.type(), CKO_PRIVATE_KEY);
    EXPECT_TRUE(u.matches_token(ti));

    Uri t = parse_uri(token_uri(ti));
    EXPECT_TRUE(t.matches_token(ti));
    EXPECT_FALSE(t.has_object_attributes());
}

TEST(UriTest, PercentEncoding) {
    Bytes b{0x01, 0xab, 0xff};
    EXPECT_EQ(percent_encode(b), "%01%ab%ff");
    EXPECT_EQ(percent_encode_text("abc-._~"), "abc-._~");
    std::string enc = percent_encode_text("a b;c?d%e/f");
    EXPECT_EQ(enc.find(' '), std::string::npos);
    EXPECT_EQ(enc.find(';'), std::string::npos);
    EXPECT_EQ(enc.find('?'), std::string::npos);
    EXPECT_EQ(parse_uri("pkcs11:object=" + enc).object(), "a b;c?d%e/f");
}

TEST(UriTest, PaddedTrimsSpacesAndNul) {
    CK_UTF8CHAR f[8];
    std::memcpy(f, "ab  \0xyz", 8);
    EXPECT_EQ(padded(f), "ab");
    std::memcpy(f, "abcdefgh", 8);
    EXPECT_EQ(padded(f), "abcdefgh");
}

}  // namespace
}  // namespace ts::hsm
