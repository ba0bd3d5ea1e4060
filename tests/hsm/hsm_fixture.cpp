// SPDX-License-Identifier: Apache-2.0
#include "tests/hsm/hsm_fixture.hpp"

#include "hsm/uri.hpp"

namespace ts::test {

std::unique_ptr<SoftHsm> HsmTest::s_softhsm;
std::shared_ptr<hsm::Module> HsmTest::s_module;
std::shared_ptr<hsm::Token> HsmTest::s_token;

void HsmTest::set_up(const std::vector<std::pair<std::string, std::string>>& extra) {
    s_softhsm = std::make_unique<SoftHsm>();
    s_softhsm->add_token(kLabel, kPin);
    for (const auto& [label, pin] : extra) s_softhsm->add_token(label, pin);
    // SOFTHSM2_CONF is set by SoftHsm before the module reads it in C_Initialize.
    s_module = hsm::Module::load_path(softhsm_module());
    auto uri = hsm::parse_uri(std::string("pkcs11:token=") + kLabel);
    s_token = hsm::Token::open(hsm::select_token({s_module}, uri));
}

void HsmTest::TearDownTestSuite() {
    s_token.reset();
    s_module.reset();
    s_softhsm.reset();
}

hsm::PinSources HsmTest::pins(const std::string& pin) {
    hsm::PinSources p;
    p.pin_value = std::make_shared<const hsm::Pin>(hsm::Pin::from(pin));
    p.use_env = false;
    p.allow_prompt = false;
    return p;
}

hsm::Session HsmTest::session() {
    s_token->login(pins());
    return s_token->acquire();
}

}  // namespace ts::test
