// SPDX-License-Identifier: Apache-2.0
// tokensign token / key / cert commands, run as a process against a fresh SoftHSM2 token.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "tests/cli/cli_fixture.hpp"

namespace ts::test {
namespace {

/// OpenSC's pkcs11-spy module, found portably: dpkg's file list, else the usual directories.
std::string spy_module() {
    auto r = run({"dpkg", "-L", "opensc-pkcs11"});
    if (r.exit_code == 0) {
        std::istringstream lines(r.out);
        for (std::string line; std::getline(lines, line);) {
            if (line.size() > 15 && line.ends_with("/pkcs11-spy.so") &&
                access(line.c_str(), R_OK) == 0) {
                return line;
            }
        }
    }
    for (const char* p : {"/usr/lib/x86_64-linux-gnu/pkcs11/pkcs11-spy.so",
                          "/usr/lib/aarch64-linux-gnu/pkcs11/pkcs11-spy.so",
                          "/usr/lib/x86_64-linux-gnu/pkcs11-spy.so",
                          "/usr/lib/pkcs11/pkcs11-spy.so", "/usr/lib64/pkcs11/pkcs11-spy.so"}) {
        if (access(p, R_OK) == 0) return p;
    }
    ADD_FAILURE() << "OpenSC's pkcs11-spy.so is not installed: run scripts/install-deps.sh "
                     "(package opensc-pkcs11)";
    throw std::runtime_error("pkcs11-spy missing");
}

std::size_t count(const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (auto pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1)) ++n;
    return n;
}

/// The token object of `label` in `token list --json` output, or null.
const nlohmann::json* find_token(const nlohmann::json& list, const std::string& label,
                                 std::string* module = nullptr) {
    for (const auto& m : list.at("modules")) {
        for (const auto& t : m.at("tokens")) {
            if (t.at("label").get<std::string>() == label) {
                if (module) *module = m.at("name").get<std::string>();
                return &t;
            }
        }
    }
    return nullptr;
}

bool has(const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
}

// ---- help -----------------------------------------------------------------------------------

/// One command of `tokensign --dump-commands`: its words after "tokensign", its options (name and
/// placeholder, "" for a flag) and its arguments.
struct CommandInfo {
    std::vector<std::string> words;
    std::vector<std::pair<std::string, std::string>> options;
    std::vector<std::string> arguments;
    bool has_subcommands = false;
};

std::vector<std::string> split_tabs(const std::string& line) {
    std::vector<std::string> fields;
    std::size_t start = 0;
    for (auto tab = line.find('\t'); tab != std::string::npos; tab = line.find('\t', start)) {
        fields.push_back(line.substr(start, tab - start));
        start = tab + 1;
    }
    fields.push_back(line.substr(start));
    return fields;
}

std::vector<CommandInfo> command_tree(const RunResult& dump) {
    std::map<std::string, CommandInfo> by_path;
    std::vector<std::string> order;
    std::istringstream lines(dump.out);
    for (std::string line; std::getline(lines, line);) {
        auto f = split_tabs(line);
        if (f.size() < 2) continue;
        if (f[0] == "command") {
            CommandInfo c;
            std::istringstream words(f[1]);
            for (std::string w; words >> w;) c.words.push_back(w);
            c.words.erase(c.words.begin());  // "tokensign"
            if (!c.words.empty()) {
                std::string parent = f[1].substr(0, f[1].rfind(' '));
                by_path[parent].has_subcommands = true;
            }
            order.push_back(f[1]);
            by_path[f[1]].words = c.words;
        } else if (f[0] == "option" && f.size() == 4) {
            by_path[f[1]].options.emplace_back(f[2], f[3] == "-" ? "" : f[3]);
        } else if (f[0] == "argument" && f.size() == 3) {
            by_path[f[1]].arguments.push_back(f[2]);
        }
    }
    std::vector<CommandInfo> out;
    for (const auto& p : order) out.push_back(by_path[p]);
    return out;
}

TEST_F(CliTest, TopLevelHelpHoldsTheSharedTextOnce) {
    auto r = ts({"--help"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    for (const char* o : {"token", "key", "cert", "ca", "--module", "--pin-source", "--no-prompt",
                          "--allow-final-pin-try", "--version"})
        EXPECT_TRUE(contains(r.out, o)) << "tokensign --help lacks " << o;
    for (const char* common :
         {"TOKENSIGN_PIN", "pin-source", "pkcs11:token=", "module-path", "Exit codes", "3 no"}) {
        EXPECT_TRUE(contains(r.out, common)) << "lacks " << common << "\n" << r.out;
    }
    EXPECT_EQ(count(r.out, "Exit codes"), 1u) << r.out;
}

TEST_F(CliTest, HelpOfEveryCommandShowsItsOwnOptionsAndOneLinePointingToTheRest) {
    auto tree = command_tree(ts({"--dump-commands"}));
    ASSERT_GE(tree.size(), 15u) << "tokensign --dump-commands listed too few commands";
    for (const auto& c : tree) {
        if (c.words.empty()) continue;  // the top level: TopLevelHelpHoldsTheSharedTextOnce
        std::string name = "tokensign";
        for (const auto& w : c.words) name += " " + w;
        auto args = c.words;
        args.push_back("--help");
        auto r = ts(args);
        EXPECT_EQ(r.exit_code, 0) << name << ": " << r.err;
        for (const auto& [option, placeholder] : c.options) {
            EXPECT_TRUE(contains(r.out, option)) << name << " --help lacks " << option;
            if (placeholder.empty()) continue;
            // What to write, not the C++ type or validator names (TEXT, INT, TYPE:TYPE).
            EXPECT_NE(placeholder, "TEXT") << name << " " << option;
            EXPECT_NE(placeholder, "INT") << name << " " << option;
            EXPECT_EQ(placeholder.find(':'), std::string::npos) << name << " " << option;
            EXPECT_TRUE(contains(r.out, option + " " + placeholder))
                << name << " --help does not show " << option << " " << placeholder << "\n"
                << r.out;
        }
        for (const auto& a : c.arguments) {
            EXPECT_TRUE(contains(r.out, a)) << name << " --help lacks " << a;
            EXPECT_FALSE(contains(r.out, a + " TEXT")) << name << ": " << a << " TEXT";
        }
        // The shared reference text is in tokensign --help only; here one line points there.
        EXPECT_TRUE(contains(r.out, "tokensign --help")) << name << "\n" << r.out;
        // (A command may name TOKENSIGN_PIN in its own text, e.g. token change-pin: check for
        // the shared paragraphs themselves.)
        for (const char* shared : {"Exit codes", "Tokens and objects are named by RFC 7512",
                                   "The user PIN comes from, in this order"})
            EXPECT_FALSE(contains(r.out, shared)) << name << "\n" << r.out;
    }
}

TEST_F(CliTest, HelpOfKeyCommandsNamesKeyTypesAndFingerprints) {
    auto gen = ts({"key", "generate", "--help"});
    for (const char* t : {"rsa:4096", "ec:p-384", "ed25519"})
        EXPECT_TRUE(contains(gen.out, t)) << "key generate --help lacks " << t;
    EXPECT_TRUE(contains(ts({"key", "show", "--help"}).out, "SHA-256"));
}

TEST_F(CliTest, OnlyABinaryInTheBuildTreeLoadsTheBuildTreesProvider) {
    // OpenSSL's own module directory, where tokensign.so is installed.
    auto m = run({"openssl", "version", "-m"});
    ASSERT_EQ(m.exit_code, 0) << m.err;
    auto q1 = m.out.find('"'), q2 = m.out.rfind('"');
    ASSERT_LT(q1, q2) << m.out;
    const std::string modules_dir = m.out.substr(q1 + 1, q2 - q1 - 1);

    auto built = ts({"--version"});
    ASSERT_EQ(built.exit_code, 0) << built.err;
    EXPECT_TRUE(contains(built.out, "provider: " + provider_dir() + "/tokensign.so")) << built.out;

    // The same binary copied out of the build tree, as an installed one is: it must never load
    // (nor write into a CA's openssl.cnf) the build tree's tokensign.so.
    const std::string copy = file("tokensign-copy");
    ASSERT_EQ(run({"cp", cli_path(), copy}).exit_code, 0);
    auto moved = run({copy, "--version"}, {{"TOKENSIGN_PROVIDER_DIR", ""}});
    ASSERT_EQ(moved.exit_code, 0) << moved.err;
    EXPECT_TRUE(contains(moved.out, "provider: " + modules_dir + "/tokensign.so")) << moved.out;
    EXPECT_FALSE(contains(moved.out, provider_dir())) << moved.out;
}

TEST_F(CliTest, NoPinFlagExistsOnTheCommandLine) {
    auto r = ts({"key", "list", token_uri(), "--pin", kPin});
    EXPECT_EQ(r.exit_code, 2) << r.err;
}

// ---- token ----------------------------------------------------------------------------------

TEST_F(CliTest, TokenListFindsSoftHsmThroughP11KitWithoutModuleFlag) {
    // No --module, no TOKENSIGN_MODULE: SoftHSM2 comes from p11-kit's registration
    // (/usr/share/p11-kit/modules/softhsm2.module) and reads this suite's SOFTHSM2_CONF.
    auto r = ts({"token", "list"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(contains(r.out, "Token 'cli-test'")) << r.out;
    EXPECT_TRUE(contains(r.out, "Token 'cli-other'")) << r.out;
    EXPECT_TRUE(contains(r.out, "login-required")) << r.out;
    // SoftHSM2 always offers one more slot with an uninitialised token.
    EXPECT_TRUE(contains(r.out, "(not initialized)")) << r.out;

    auto j = json_of(ts({"token", "list", "--json"}));
    std::string module;
    const nlohmann::json* t = find_token(j, kToken, &module);
    ASSERT_NE(t, nullptr) << "cli-test missing from token list --json";
    EXPECT_EQ(module, "softhsm2");
    EXPECT_EQ((*t).at("model").get<std::string>(), "SoftHSM v2");
    EXPECT_FALSE((*t).at("serial").get<std::string>().empty());
    EXPECT_TRUE(has((*t).at("flags").get<std::vector<std::string>>(), "login-required"));
    EXPECT_TRUE(has((*t).at("flags").get<std::vector<std::string>>(), "token-initialized"));
    EXPECT_TRUE(has((*t).at("slot_flags").get<std::vector<std::string>>(), "token-present"));
    EXPECT_TRUE(contains((*t).at("uri").get<std::string>(), "token=cli-test"));
    EXPECT_TRUE((*t).at("slot_id").is_number_unsigned());
}

TEST_F(CliTest, TokenListByExplicitModuleEnvironmentAndUri) {
    const std::string mod = softhsm_module();
    auto check_only_ours = [](const RunResult& r, const char* how) {
        ASSERT_EQ(r.exit_code, 0) << how << ": " << r.err;
        auto j = nlohmann::json::parse(r.out);
        ASSERT_EQ(j.at("modules").size(), 1u) << how;
        EXPECT_EQ(j.at("modules").at(0).at("path").get<std::string>(), softhsm_module()) << how;
        ASSERT_EQ(j.at("modules").at(0).at("tokens").size(), 1u) << how;
        EXPECT_EQ(j.at("modules").at(0).at("tokens").at(0).at("label").get<std::string>(),
                  "cli-test")
            << how;
    };
    check_only_ours(ts({"--module", mod, "token", "list", token_uri(), "--json"}), "--module");
    check_only_ours(ts({"token", "list", token_uri(), "--json", "--module", mod}),
                    "--module after the subcommand");
    check_only_ours(ts({"token", "list", token_uri(), "--json"}, {{"TOKENSIGN_MODULE", mod}}),
                    "TOKENSIGN_MODULE");
    check_only_ours(ts({"token", "list", token_uri("?module-path=" + mod), "--json"}),
                    "module-path");
    auto by_name = ts({"token", "list", token_uri("?module-name=softhsm2"), "--json"});
    ASSERT_EQ(by_name.exit_code, 0) << by_name.err;
    EXPECT_EQ(json_of(by_name).at("modules").at(0).at("name").get<std::string>(), "softhsm2");

    auto bad = ts({"--module", "/nonexistent/libnothing.so", "token", "list"});
    EXPECT_NE(bad.exit_code, 0);
    EXPECT_TRUE(contains(bad.err, "/nonexistent/libnothing.so")) << bad.err;
}

TEST_F(CliTest, TokenMechanismsListsKeyGeneration) {
    auto r = ts({"token", "mechanisms", token_uri()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(contains(r.out, "CKM_RSA_PKCS_KEY_PAIR_GEN")) << r.out;
    EXPECT_TRUE(contains(r.out, "CKM_ECDSA")) << r.out;
    auto j = json_of(ts({"token", "mechanisms", token_uri(), "--json"}));
    EXPECT_EQ(j.at("token").get<std::string>(), "cli-test");
    bool ec_gen = false;
    for (const auto& m : j.at("mechanisms")) {
        if (m.at("name").get<std::string>() == "CKM_EC_KEY_PAIR_GEN") {
            ec_gen = true;
            EXPECT_TRUE(has(m.at("flags").get<std::vector<std::string>>(), "generate-key-pair"));
            EXPECT_GE(m.at("max_key_size"), 384);
        }
    }
    EXPECT_TRUE(ec_gen);
    EXPECT_EQ(ts({"token", "mechanisms"}).exit_code, 2);  // the URI is required
}

// ---- key ------------------------------------------------------------------------------------

TEST_F(CliTest, KeyGenerateListShowRoundTrip) {
    auto gen = ok({"key", "generate", "--token", token_uri(), "--type", "ec:p-384", "--label",
                   "web", "--id", "01:02", "--json"});
    auto g = json_of(gen);
    EXPECT_EQ(g.at("label").get<std::string>(), "web");
    EXPECT_EQ(g.at("id").get<std::string>(), "0102");
    EXPECT_EQ(g.at("bits"), 384);
    EXPECT_TRUE(contains(g.at("private_key_uri").get<std::string>(), "type=private"));
    EXPECT_TRUE(contains(g.at("private_key_uri").get<std::string>(), "id=%01%02"));

    auto list = json_of(ok({"key", "list", token_uri(), "--json"}));
    int priv = 0, pub = 0;
    for (const auto& k : list.at("keys")) {
        if (k.at("label").get<std::string>() != "web") continue;
        EXPECT_EQ(k.at("id").get<std::string>(), "0102");
        EXPECT_EQ(k.at("group").get<std::string>(), "secp384r1");
        if (k.at("class").get<std::string>() == "private key") ++priv;
        if (k.at("class").get<std::string>() == "public key") ++pub;
    }
    EXPECT_EQ(priv, 1);
    EXPECT_EQ(pub, 1);
    auto human = ok({"key", "list", token_uri()});
    EXPECT_TRUE(contains(human.out, "label 'web'")) << human.out;

    // The URI the generator printed names the key for key show.
    auto show = json_of(ok({"key", "show", g.at("private_key_uri").get<std::string>(), "--json"}));
    EXPECT_EQ(show.at("class").get<std::string>(), "private key");
    EXPECT_EQ(show.at("spki_sha256").get<std::string>(), g.at("spki_sha256").get<std::string>());
    EXPECT_EQ(show.at("attributes").at("sensitive"), true);
    EXPECT_EQ(show.at("attributes").at("extractable"), false);
    EXPECT_EQ(show.at("attributes").at("never_extractable"), true);

    // The PEM is a named-curve SubjectPublicKeyInfo that stock openssl reads, and the fingerprint
    // is SHA-256 over the DER openssl re-encodes from it.
    write_file(file("web.pem"), show.at("public_key_pem").get<std::string>());
    auto text = tool({"openssl", "pkey", "-pubin", "-in", file("web.pem"), "-noout", "-text"});
    ASSERT_EQ(text.exit_code, 0) << text.err;
    EXPECT_TRUE(contains(text.out, "secp384r1")) << text.out;
    spki_der_file(file("web.pem"), "PEM", file("web.der"));
    EXPECT_EQ(openssl_sha256(file("web.der")), show.at("spki_sha256").get<std::string>());

    auto plain = ok({"key", "show", token_uri(";object=web")});
    EXPECT_TRUE(contains(plain.out, "-----BEGIN PUBLIC KEY-----")) << plain.out;
    EXPECT_TRUE(contains(plain.out, show.at("spki_sha256").get<std::string>())) << plain.out;

    // pkcs11-tool, an independent reader, sees the protection the issue asks for.
    auto objs = pkcs11_tool({"--list-objects", "--type", "privkey", "--label", "web"});
    ASSERT_EQ(objs.exit_code, 0) << objs.err;
    EXPECT_TRUE(contains(objs.out, "sensitive, always sensitive, never extractable")) << objs.out;
}

TEST_F(CliTest, KeyGenerateRsa4096) {
    auto g = json_of(ok({"key", "generate", "--token", token_uri(), "--type", "rsa:4096", "--label",
                         "big", "--json"}));
    EXPECT_EQ(g.at("bits"), 4096);
    EXPECT_EQ(g.at("id").get<std::string>().size(), 16u);  // 8 random bytes
    write_file(file("big.pem"), g.at("public_key_pem").get<std::string>());
    auto text = tool({"openssl", "pkey", "-pubin", "-in", file("big.pem"), "-noout", "-text"});
    EXPECT_TRUE(contains(text.out, "(4096 bit)")) << text.out << text.err;
    EXPECT_TRUE(contains(text.out, "65537")) << text.out;
}

TEST_F(CliTest, Ed25519FollowsTheTokensMechanisms) {
    auto mechs = ts({"token", "mechanisms", token_uri()});
    ASSERT_EQ(mechs.exit_code, 0) << mechs.err;
    const bool offered = contains(mechs.out, "CKM_EC_EDWARDS_KEY_PAIR_GEN");
    auto r = ts(
        {"key", "generate", "--token", token_uri(), "--type", "ed25519", "--label", "ed", "--json"},
        {{"TOKENSIGN_PIN", kPin}});
    if (offered) {
        ASSERT_EQ(r.exit_code, 0) << r.err;
        write_file(file("ed.pem"), json_of(r).at("public_key_pem").get<std::string>());
        auto text = tool({"openssl", "pkey", "-pubin", "-in", file("ed.pem"), "-noout", "-text"});
        EXPECT_TRUE(contains(text.out, "ED25519")) << text.out << text.err;
    } else {
        EXPECT_EQ(r.exit_code, 1);
        EXPECT_TRUE(contains(r.err, "cannot generate")) << r.err;
    }
}

TEST_F(CliTest, BadKeyTypeOrIdIsAUsageError) {
    for (auto args :
         std::vector<std::vector<std::string>>{{"--type", "dsa:2048", "--label", "x"},
                                               {"--type", "rsa:1024", "--label", "x"},
                                               {"--type", "ec:p-256", "--label", "x", "--id", "zz"},
                                               {"--type", "ec:p-256"}}) {
        args.insert(args.begin(), {"key", "generate", "--token", token_uri()});
        auto r = ts(args, {{"TOKENSIGN_PIN", kPin}});
        EXPECT_EQ(r.exit_code, 2) << r.err;
    }
}

TEST_F(CliTest, DuplicateLabelOrIdIsRefusedWithExit3) {
    ok({"key", "generate", "--token", token_uri(), "--type", "ec:p-256", "--label", "dup", "--id",
        "77"});
    auto label = ts({"key", "generate", "--token", token_uri(), "--type", "ec:p-256", "--label",
                     "dup", "--id", "78"},
                    {{"TOKENSIGN_PIN", kPin}});
    EXPECT_EQ(label.exit_code, 3) << label.err;
    EXPECT_TRUE(contains(label.err, "'dup'")) << label.err;
    auto id = ts({"key", "generate", "--token", token_uri(), "--type", "ec:p-256", "--label",
                  "dup2", "--id", "77"},
                 {{"TOKENSIGN_PIN", kPin}});
    EXPECT_EQ(id.exit_code, 3) << id.err;
    EXPECT_TRUE(contains(id.err, "77")) << id.err;
    // Nothing new was made.
    EXPECT_EQ(json_of(ok({"key", "list", token_uri(";object=dup"), "--json"})).at("keys").size(),
              2u);
    EXPECT_EQ(json_of(ok({"key", "list", token_uri(";object=dup2"), "--json"})).at("keys").size(),
              0u);
    EXPECT_EQ(json_of(ok({"key", "list", token_uri(";id=%77"), "--json"})).at("keys").size(), 2u);
}

TEST_F(CliTest, SelectionErrorsListTheCandidatesWithExit3) {
    ok({"key", "generate", "--token", token_uri(), "--type", "ec:p-256", "--label", "one"});
    ok({"key", "generate", "--token", token_uri(), "--type", "ec:p-256", "--label", "two"});
    const std::map<std::string, std::string> pin{{"TOKENSIGN_PIN", kPin}};

    auto no_token = ts({"key", "list", "pkcs11:token=absent"}, pin);
    EXPECT_EQ(no_token.exit_code, 3);
    EXPECT_TRUE(contains(no_token.err, "cli-test")) << no_token.err;
    EXPECT_TRUE(contains(no_token.err, "cli-other")) << no_token.err;

    auto two_tokens = ts({"key", "list", "pkcs11:model=SoftHSM%20v2"}, pin);
    EXPECT_EQ(two_tokens.exit_code, 3);
    EXPECT_TRUE(contains(two_tokens.err, "cli-test")) << two_tokens.err;
    EXPECT_TRUE(contains(two_tokens.err, "cli-other")) << two_tokens.err;

    auto two_keys = ts({"key", "show", token_uri(";type=private")}, pin);
    EXPECT_EQ(two_keys.exit_code, 3);
    EXPECT_TRUE(contains(two_keys.err, "'one'")) << two_keys.err;
    EXPECT_TRUE(contains(two_keys.err, "'two'")) << two_keys.err;

    auto no_key = ts({"key", "show", token_uri(";object=three")}, pin);
    EXPECT_EQ(no_key.exit_code, 3);
    EXPECT_TRUE(contains(no_key.err, "three")) << no_key.err;
    EXPECT_TRUE(contains(no_key.err, "'one'")) << no_key.err;
    EXPECT_TRUE(contains(no_key.err, "'two'")) << no_key.err;
}

TEST_F(CliTest, MalformedUriIsAUsageErrorNamingThePartNeverThePin) {
    auto r = ts({"key", "list", token_uri(";idd=%01?pin-value=s3cret")});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_TRUE(contains(r.err, "idd")) << r.err;
    EXPECT_FALSE(contains(r.err, "s3cret")) << r.err;
    auto pct = ts({"key", "show", token_uri(";id=%0g")});
    EXPECT_EQ(pct.exit_code, 2);
    EXPECT_TRUE(contains(pct.err, "id=%0g")) << pct.err;
    auto not_uri = ts({"key", "show", "token=cli-test"});
    EXPECT_EQ(not_uri.exit_code, 2);
    EXPECT_TRUE(contains(not_uri.err, "pkcs11:")) << not_uri.err;
}

// ---- PINs -----------------------------------------------------------------------------------

TEST_F(CliTest, WrongPinCallsCLoginOnceAndLeavesTheTokenUsable) {
    const std::string log = file("spy.log");
    const std::map<std::string, std::string> spy{
        {"PKCS11SPY", softhsm_module()}, {"PKCS11SPY_OUTPUT", log}, {"TOKENSIGN_PIN", "0000"}};
    auto r = ts({"--module", spy_module(), "key", "list", token_uri()}, spy);
    EXPECT_EQ(r.exit_code, 4) << r.err;
    EXPECT_TRUE(contains(r.err, "PIN was rejected")) << r.err;
    EXPECT_TRUE(contains(r.err, "CKR_PIN_INCORRECT")) << r.err;
    EXPECT_FALSE(contains(r.err, "0000")) << r.err;
    std::string calls = read_file(log);
    ASSERT_FALSE(calls.empty()) << "pkcs11-spy wrote no log: was it loaded?";
    EXPECT_EQ(count(calls, "C_Login"), 1u) << calls;

    // Not locked: the flags say so and the right PIN still works.
    auto j = json_of(ts({"token", "list", token_uri(), "--json"}));
    const nlohmann::json* t = find_token(j, kToken);
    ASSERT_NE(t, nullptr);
    EXPECT_FALSE(has((*t).at("flags").get<std::vector<std::string>>(), "user-pin-locked"));
    // The error said what the token flags say now (SoftHSM2 sets user-pin-count-low after a
    // rejected PIN).
    EXPECT_EQ(has((*t).at("flags").get<std::vector<std::string>>(), "user-pin-count-low"),
              contains(r.err, "few PIN tries remain"))
        << r.err;
    auto good = ts({"key", "list", token_uri()}, {{"TOKENSIGN_PIN", kPin}});
    EXPECT_EQ(good.exit_code, 0) << good.err;
}

TEST_F(CliTest, PinSourcesAreTriedInOrder) {
    const std::string right = softhsm().pin_file(kPin);
    const std::string wrong = softhsm().pin_file("0000");
    const std::map<std::string, std::string> wrong_env{{"TOKENSIGN_PIN", "0000"}};

    // pin-value in the URI (tests only) beats everything else.
    auto pv = ts({"--pin-source", wrong, "key", "list", token_uri("?pin-value=1234")}, wrong_env);
    EXPECT_EQ(pv.exit_code, 0) << pv.err;
    // The URI's pin-source beats --pin-source and TOKENSIGN_PIN.
    auto uri_src =
        ts({"--pin-source", wrong, "key", "list", token_uri("?pin-source=" + right)}, wrong_env);
    EXPECT_EQ(uri_src.exit_code, 0) << uri_src.err;
    // --pin-source beats TOKENSIGN_PIN, also as a file: URI.
    auto opt = ts({"--pin-source", "file://" + right, "key", "list", token_uri()}, wrong_env);
    EXPECT_EQ(opt.exit_code, 0) << opt.err;
    // TOKENSIGN_PIN alone.
    auto env = ts({"key", "list", token_uri()}, {{"TOKENSIGN_PIN", kPin}});
    EXPECT_EQ(env.exit_code, 0) << env.err;
    // The order is real: a wrong URI pin-source is used (and fails) although --pin-source is right.
    auto first_wins = ts({"--pin-source", right, "key", "list", token_uri("?pin-source=" + wrong)});
    EXPECT_EQ(first_wins.exit_code, 4) << first_wins.err;
    // Nothing at all, and no prompt allowed: exit 4 naming the ways to give a PIN.
    auto none = ts({"--no-prompt", "key", "list", token_uri()});
    EXPECT_EQ(none.exit_code, 4) << none.err;
    EXPECT_TRUE(contains(none.err, "TOKENSIGN_PIN")) << none.err;
    // An unreadable pin-source is an error naming the file.
    auto missing = ts({"--pin-source", file("no-such-pin"), "key", "list", token_uri()});
    EXPECT_EQ(missing.exit_code, 4) << missing.err;
    EXPECT_TRUE(contains(missing.err, "no-such-pin")) << missing.err;
    // The right PIN afterwards: the rejected try did not lock the token.
    EXPECT_EQ(ts({"key", "list", token_uri()}, {{"TOKENSIGN_PIN", kPin}}).exit_code, 0);
}

TEST_F(CliTest, PublicObjectsNeedNoPin) {
    ok({"key", "generate", "--token", token_uri(), "--type", "ec:p-256", "--label", "pub"});
    auto r = ts({"--no-prompt", "key", "list", token_uri(), "--no-login", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    int mine = 0;
    const nlohmann::json j = json_of(r);
    for (const auto& k : j.at("keys")) {
        EXPECT_EQ(k.at("class").get<std::string>(), "public key");  // private keys need a login
        if (k.at("label").get<std::string>() == "pub") ++mine;
    }
    EXPECT_EQ(mine, 1);
    auto show =
        ts({"--no-prompt", "key", "show", token_uri(";object=pub;type=public"), "--no-login"});
    EXPECT_EQ(show.exit_code, 0) << show.err;
}

}  // namespace
}  // namespace ts::test
