// SPDX-License-Identifier: Apache-2.0
// tokensign ceremony rehearse|run at the terminal: each step waits for "yes" typed on the
// terminal (never stdin), a "no" stops the ceremony with exit 8 and a stopped transcript, the
// PIN is asked for once per token, and every confirmation is recorded as the operator's.
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tests/cli/cli_fixture.hpp"
#include "tests/cli/tty_script.hpp"

namespace ts::test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::string kExamples = std::string(TS_TEST_SOURCE_DIR) + "/docs/examples";
constexpr const char* kQuestion = "anything else stops the ceremony: ";

using CeremonyRunCliTest = CliTest;

std::vector<json> records(const std::string& dir) {
    std::ifstream in(dir + "/transcript.jsonl");
    std::vector<json> out;
    std::string line;
    while (std::getline(in, line)) out.push_back(json::parse(line));
    return out;
}

std::vector<json> events(const std::vector<json>& recs, const std::string& event) {
    std::vector<json> out;
    for (const auto& r : recs)
        if (r.value("event", "") == event) out.push_back(r);
    return out;
}

// The docs example with its token renamed to this suite's, beside copies of its inputs.
std::string example_for(const std::string& dir, const std::string& token) {
    fs::create_directories(dir);
    for (const auto& e : fs::directory_iterator(kExamples))
        fs::copy_file(e.path(), fs::path(dir) / e.path().filename());
    std::ifstream in(kExamples + "/root-ceremony.yaml");
    std::stringstream ss;
    ss << in.rdbuf();
    std::string text = ss.str();
    for (size_t at; (at = text.find("root-hsm")) != std::string::npos;) text.replace(at, 8, token);
    std::ofstream(dir + "/root-ceremony.yaml", std::ios::trunc) << text;
    return dir + "/root-ceremony.yaml";
}

TEST_F(CeremonyRunCliTest, ANoAtTheTerminalStopsTheCeremonyWithExitEight) {
    std::string out = file("declined");
    auto r = run_on_tty_script(
        {cli_path(), "ceremony", "rehearse", kExamples + "/root-ceremony.yaml", "--out", out},
        {{kQuestion, "yes"}, {kQuestion, "no"}});
    EXPECT_EQ(r.exit_code, 8) << r.screen;
    EXPECT_EQ(r.answered, 2u) << r.screen;
    EXPECT_TRUE(contains(r.screen, "1. Generate an RSA 4096-bit key pair")) << r.screen;
    auto recs = records(out);
    ASSERT_FALSE(recs.empty());
    auto confirms = events(recs, "confirm");
    ASSERT_EQ(confirms.size(), 1u);
    EXPECT_EQ(confirms[0]["by"], "operator");
    EXPECT_EQ(confirms[0]["step"], "root-key");
    auto errors = events(recs, "error");
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0]["step"], "root-cert");
    EXPECT_EQ(errors[0]["token_state"], "nothing");
    EXPECT_EQ(recs.back()["event"], "end");
    EXPECT_EQ(recs.back()["status"], "stopped");
    EXPECT_EQ(recs.back()["stopped_at"], "root-cert");
    EXPECT_EQ(recs.back()["steps_done"], 1);
    EXPECT_TRUE(events(recs, "signed").empty());
    EXPECT_FALSE(fs::exists(out + "/root-cert.crt"));
}

TEST_F(CeremonyRunCliTest, ControlCAtAPromptStopsTheCeremonyAndRecordsIt) {
    std::string out = file("interrupted");
    auto r = run_on_tty_script(
        {cli_path(), "ceremony", "rehearse", kExamples + "/root-ceremony.yaml", "--out", out},
        {{kQuestion, "yes"}, {kQuestion, "\x03"}});
    EXPECT_EQ(r.exit_code, 128 + SIGINT) << r.screen;
    auto recs = records(out);
    ASSERT_FALSE(recs.empty());
    auto errors = events(recs, "error");
    ASSERT_EQ(errors.size(), 1u) << r.screen;
    EXPECT_EQ(errors[0]["step"], "root-cert");
    EXPECT_TRUE(contains(errors[0]["message"].get<std::string>(), "signal")) << errors[0];
    EXPECT_EQ(recs.back()["status"], "stopped");
    EXPECT_EQ(recs.back()["steps_done"], 1);
    EXPECT_EQ(ts({"ceremony", "verify", out}).exit_code, 0);
}

TEST_F(CeremonyRunCliTest, ARunAsksThePinOnceAndEveryStepAtTheTerminal) {
    std::string file_path = example_for(file("pin-run-input"), kToken);
    std::string out = file("pin-run");
    std::vector<std::pair<std::string, std::string>> script{{"Enter PIN for", kPin}};
    for (int i = 0; i < 8; ++i) script.emplace_back(kQuestion, "yes");
    auto r = run_on_tty_script(
        {cli_path(), "ceremony", "run", file_path, "--out", out}, script,
        {{"SOFTHSM2_CONF", softhsm().conf()}, {"TOKENSIGN_MODULE", softhsm_module()}});
    EXPECT_EQ(r.exit_code, 0) << r.screen;
    EXPECT_EQ(r.answered, 9u) << r.screen;
    ASSERT_FALSE(r.echo_off.empty());
    EXPECT_TRUE(r.echo_off[0]) << "the PIN was typed with echo on";
    EXPECT_FALSE(contains(r.screen, kPin)) << r.screen;
    auto recs = records(out);
    auto confirms = events(recs, "confirm");
    ASSERT_EQ(confirms.size(), 8u);
    for (const auto& c : confirms) EXPECT_EQ(c["by"], "operator");
    EXPECT_EQ(recs.back()["status"], "complete");
    EXPECT_EQ(events(recs, "signed").size(), 5u);
    auto v = ts({"ceremony", "verify", out});
    EXPECT_EQ(v.exit_code, 0) << v.err;
}

}  // namespace
}  // namespace ts::test
