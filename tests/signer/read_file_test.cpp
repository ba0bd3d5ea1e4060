// SPDX-License-Identifier: Apache-2.0
// signer::read_file, which reads every CSR of a batch: the whole file whatever its size, and an
// error that names the file and the reason for anything it cannot read.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "signer/error.hpp"
#include "signer/libctx.hpp"

namespace ts::signer {
namespace {

class ReadFileTest : public ::testing::Test {
  protected:
    void SetUp() override {
        std::string tmpl = (std::filesystem::temp_directory_path() / "ts-readfile-XXXXXX").string();
        ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
        m_dir = tmpl;
    }
    void TearDown() override { std::filesystem::remove_all(m_dir); }
    std::string path(const char* name) const { return (m_dir / name).string(); }
    std::filesystem::path m_dir;
};

TEST_F(ReadFileTest, ReadsFilesOfEverySizeWhole) {
    for (std::size_t size : {0UL, 1UL, 4095UL, 4096UL, 4097UL, 100000UL}) {
        std::string data(size, '\0');
        for (std::size_t i = 0; i < size; ++i) data[i] = static_cast<char>(i * 7 + 1);
        std::ofstream(path("f"), std::ios::binary | std::ios::trunc) << data;
        EXPECT_EQ(read_file(path("f")), data) << "size " << size;
    }
}

TEST_F(ReadFileTest, ReadsAPipeToItsEnd) {
    ASSERT_EQ(::mkfifo(path("fifo").c_str(), 0600), 0);
    const std::string data(10000, 'x');
    std::thread writer([&] { std::ofstream(path("fifo"), std::ios::binary) << data; });
    std::string got = read_file(path("fifo"));
    writer.join();
    EXPECT_EQ(got, data);
}

TEST_F(ReadFileTest, NamesTheFileAndTheReason) {
    try {
        read_file(path("missing.csr"));
        ADD_FAILURE() << "a missing file was read";
    } catch (const InputError& e) {
        EXPECT_NE(
            std::string(e.what()).find("cannot read " + path("missing.csr") + ": No such file"),
            std::string::npos)
            << e.what();
    }
    try {
        read_file(m_dir.string());
        ADD_FAILURE() << "a directory was read";
    } catch (const InputError& e) {
        EXPECT_NE(std::string(e.what()).find("Is a directory"), std::string::npos) << e.what();
    }
}

}  // namespace
}  // namespace ts::signer
