// SPDX-License-Identifier: Apache-2.0
#include "hsm/module.hpp"

#include <p11-kit/p11-kit.h>
#include <pthread.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>

#include "hsm/error.hpp"
#include "hsm/uri.hpp"

namespace ts::hsm {

namespace {

std::atomic<unsigned long> g_fork_generation{0};
std::once_flag g_atfork_once;

void on_fork_child() { g_fork_generation.fetch_add(1, std::memory_order_relaxed); }

void install_atfork() {
    std::call_once(g_atfork_once, [] { pthread_atfork(nullptr, nullptr, on_fork_child); });
}

// One Module per (how it was loaded, path) per process; weak so the last user finalizes it.
// A static object, not a leaked heap one: in tokensign.so it is freed when the provider is
// unloaded or at exit, so no load/unload cycle leaves entries behind. Only weak references
// live here and no destructor reaches it, so its destruction order does not matter.
std::mutex g_cache_mutex;
std::map<std::string, std::weak_ptr<Module>>& cache() {
    static std::map<std::string, std::weak_ptr<Module>> m;
    // Entries of modules that are gone (and their control blocks) are dropped on every use.
    std::erase_if(m, [](const auto& e) { return e.second.expired(); });
    return m;
}

std::string take_string(char* s) {
    if (!s) return {};
    std::string out(s);
    std::free(s);
    return out;
}

std::string base_name(const std::string& path) {
    auto slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

CK_RV initialize(CK_FUNCTION_LIST* fl) {
    QueueGuard quiet;
    CK_RV rv = p11_kit_module_initialize(fl);
    return rv == CKR_CRYPTOKI_ALREADY_INITIALIZED ? CKR_OK : rv;
}

}  // namespace

unsigned long fork_generation() noexcept {
    return g_fork_generation.load(std::memory_order_relaxed);
}

Module::Module(CK_FUNCTION_LIST* fl, std::string name, std::string path)
    : m_fl(fl), m_name(std::move(name)), m_path(std::move(path)),
      m_fork_generation(fork_generation()) {}

Module::~Module() {
    QueueGuard quiet;
    p11_kit_module_finalize(m_fl);
    p11_kit_module_release(m_fl);
}

CK_FUNCTION_LIST* Module::fn() {
    if (m_fork_generation != fork_generation()) reinit_after_fork();
    return m_fl;
}

void Module::reinit_after_fork() {
    // PKCS#11 v2.40 §6.7.7: a child must call C_Initialize itself and not use the parent's
    // sessions. p11-kit marks managed modules uninitialised in the child.
    static std::mutex m;
    std::lock_guard lock(m);
    if (m_fork_generation == fork_generation()) return;
    check_rv(initialize(m_fl), "C_Initialize", "re-initialising module '" + m_name + "' after fork");
    m_fork_generation = fork_generation();
}

std::shared_ptr<Module> Module::load_path(const std::string& path) {
    install_atfork();
    std::lock_guard lock(g_cache_mutex);
    const std::string key = "path:" + path;
    if (auto m = cache()[key].lock()) return m;
    QueueGuard quiet;
    CK_FUNCTION_LIST* fl = p11_kit_module_load(path.c_str(), P11_KIT_MODULE_CRITICAL);
    if (!fl) {
        throw Error("cannot load PKCS#11 module '" + path + "': " + p11_kit_message() +
                    "; check the path (--module, TOKENSIGN_MODULE or module-path)");
    }
    CK_RV rv = initialize(fl);
    if (rv != CKR_OK) {
        p11_kit_module_release(fl);
        throw_rv(rv, "C_Initialize", "initialising PKCS#11 module '" + path + "'");
    }
    std::shared_ptr<Module> m(new Module(fl, base_name(path), path));
    cache()[key] = m;
    return m;
}

std::vector<std::shared_ptr<Module>> Module::load_all_registered() {
    install_atfork();
    std::lock_guard lock(g_cache_mutex);
    QueueGuard quiet;
    CK_FUNCTION_LIST** list = p11_kit_modules_load(nullptr, 0);
    if (!list) throw Error(std::string("cannot load the p11-kit registered modules: ") +
                           p11_kit_message());
    std::vector<std::shared_ptr<Module>> out;
    for (CK_FUNCTION_LIST** p = list; *p; ++p) {
        CK_FUNCTION_LIST* fl = *p;
        std::string name = take_string(p11_kit_module_get_name(fl));
        std::string file = take_string(p11_kit_module_get_filename(fl));
        const std::string key = "registered:" + name;
        if (auto existing = cache()[key].lock()) {
            p11_kit_module_release(fl);
            out.push_back(existing);
            continue;
        }
        // A registered module that fails to initialise (no reader, broken config) is left out:
        // the user asked for "whatever is there", and the others still work.
        if (initialize(fl) != CKR_OK) {
            p11_kit_module_release(fl);
            continue;
        }
        std::shared_ptr<Module> m(new Module(fl, name.empty() ? base_name(file) : name, file));
        cache()[key] = m;
        out.push_back(std::move(m));
    }
    std::free(list);
    return out;
}

std::shared_ptr<Module> Module::load_registered(const std::string& name) {
    for (auto& m : load_all_registered())
        if (m->name() == name) return m;
    std::string names;
    for (auto& m : load_all_registered()) names += (names.empty() ? "" : ", ") + m->name();
    throw Error("no PKCS#11 module named '" + name + "' is registered with p11-kit (registered: " +
                (names.empty() ? "none" : names) + "); see pkcs11.conf(5) or use module-path");
}

CK_INFO Module::info() {
    CK_INFO info{};
    check_rv(fn()->C_GetInfo(&info), "C_GetInfo", "module '" + m_name + "'");
    return info;
}

std::vector<CK_SLOT_ID> Module::slots_with_token() {
    CK_FUNCTION_LIST* f = fn();
    for (int attempt = 0; attempt < 3; ++attempt) {
        CK_ULONG n = 0;
        check_rv(f->C_GetSlotList(CK_TRUE, nullptr, &n), "C_GetSlotList", "module '" + m_name + "'");
        std::vector<CK_SLOT_ID> slots(n);
        if (n == 0) return slots;
        CK_RV rv = f->C_GetSlotList(CK_TRUE, slots.data(), &n);
        if (rv == CKR_BUFFER_TOO_SMALL) continue;  // a token appeared between the two calls
        check_rv(rv, "C_GetSlotList", "module '" + m_name + "'");
        slots.resize(n);
        return slots;
    }
    throw Error("module '" + m_name + "': the slot list kept changing; try again");
}

std::vector<std::shared_ptr<Module>> load_modules(const ModuleChoice& choice, const Uri* uri) {
    // The URI names its object most precisely, so its module attributes win.
    if (uri) {
        if (auto p = uri->module_path()) return {Module::load_path(*p)};
        if (auto n = uri->module_name()) return {Module::load_registered(*n)};
    }
    if (!choice.explicit_path.empty()) return {Module::load_path(choice.explicit_path)};
    if (choice.use_env) {
        if (const char* env = std::getenv("TOKENSIGN_MODULE"); env && *env) {
            return {Module::load_path(env)};
        }
    }
    auto all = Module::load_all_registered();
    if (all.empty()) {
        throw Error(
            "no PKCS#11 module is registered with p11-kit; give one with --module PATH, "
            "TOKENSIGN_MODULE, or module-path in the URI");
    }
    return all;
}

}  // namespace ts::hsm
