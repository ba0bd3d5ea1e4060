// SPDX-License-Identifier: Apache-2.0
// The rehearsal's throwaway tokens: a SoftHSM2 token directory of its own in a temporary
// directory, one token per declared token (labelled as the file's token URI names it), random
// PINs that are never shown. No other module is loaded, so no real token is opened.
#pragma once

#include <map>
#include <string>

#include "signer/ceremony/file.hpp"
#include "signer/ceremony/runner.hpp"

namespace ts::signer::ceremony {

/// Where SoftHSM2's module is: `given` (--module) when not empty, else the Debian locations
/// (multiarch and /usr/lib/softhsm). Throws InputError saying how to install it.
std::string find_softhsm2_module(const std::string& given);

class Rehearsal {
  public:
    /// Sets SOFTHSM2_CONF for this process to a configuration in a new temporary directory
    /// (must happen before SoftHSM2 is first loaded), loads `module` (refused unless its
    /// C_GetInfo says SoftHSM), and initialises one token per declared token of `f`.
    Rehearsal(const File& f, const std::string& module);
    ~Rehearsal();
    Rehearsal(const Rehearsal&) = delete;
    Rehearsal& operator=(const Rehearsal&) = delete;

    /// The tokens for RunOptions::overrides.
    const std::map<std::string, TokenOverride>& tokens() const { return m_tokens; }

  private:
    std::string m_dir;
    std::map<std::string, TokenOverride> m_tokens;
};

}  // namespace ts::signer::ceremony
