// SPDX-License-Identifier: Apache-2.0
// Loading PKCS#11 modules through p11-kit: by path, by registered name, or every registered one.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "hsm/pkcs11.hpp"

namespace ts::hsm {

class Uri;

/// One loaded and initialised PKCS#11 module. Loaded through p11-kit in managed mode, so several
/// users in one process (the CLI and the provider) each get their own C_Initialize/C_Finalize.
/// After fork() the child re-initialises on first use (pthread_atfork marks the module stale).
class Module {
public:
    Module(const Module&) = delete;
    Module& operator=(const Module&) = delete;
    ~Module();

    /// Loads the module at `path` (p11_kit_module_load + p11_kit_module_initialize). Modules are
    /// cached per process: a second load of the same path returns the same object.
    static std::shared_ptr<Module> load_path(const std::string& path);
    /// Loads the module registered with p11-kit under `name` (see pkcs11.conf(5)).
    static std::shared_ptr<Module> load_registered(const std::string& name);
    /// Loads every module registered with p11-kit that is enabled for this program.
    static std::vector<std::shared_ptr<Module>> load_all_registered();

    /// The function list. Calls through it are hsm/'s business only.
    CK_FUNCTION_LIST* fn();
    /// p11-kit's name for a registered module, else the file name.
    const std::string& name() const noexcept { return m_name; }
    const std::string& path() const noexcept { return m_path; }
    /// C_GetInfo.
    CK_INFO info();
    /// Slots with a token present (C_GetSlotList(CK_TRUE)).
    std::vector<CK_SLOT_ID> slots_with_token();

private:
    Module(CK_FUNCTION_LIST* fl, std::string name, std::string path);
    void reinit_after_fork();
    CK_FUNCTION_LIST* m_fl;
    std::string m_name;
    std::string m_path;
    unsigned long m_fork_generation;
};

/// Which modules to use, in this order: the URI's module-path, the URI's module-name (a module
/// registered with p11-kit), `explicit_path` (--module or the provider's pkcs11-module),
/// TOKENSIGN_MODULE from the environment, else every module registered with p11-kit.
struct ModuleChoice {
    std::string explicit_path;
    bool use_env = true;
};

/// Loads the modules a URI (or none) asks for per ModuleChoice. Throws Error when a named module
/// cannot be loaded, saying which and why.
std::vector<std::shared_ptr<Module>> load_modules(const ModuleChoice& choice, const Uri* uri);

/// A counter bumped in every child after fork(); modules and tokens compare it to detect
/// state inherited from the parent.
unsigned long fork_generation() noexcept;

}  // namespace ts::hsm
