#include "core/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace mm {

MappedFile::MappedFile(const std::string& path) : path_(path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw Error("cannot open " + path + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error("cannot read " + path + ": not a regular file");
  }
  size_ = size_t(st.st_size);
  if (size_ > 0 && load_mode() == LoadMode::Load) {
    const size_t huge = size_t(2) << 20, n = (size_ + huge - 1) / huge * huge;
    void* p = ::mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      ::close(fd);
      throw Error("cannot allocate " + std::to_string(n) + " bytes to load " + path);
    }
    ::madvise(p, n, MADV_HUGEPAGE);  // best effort
    size_t done = 0;
    while (done < size_) {
      ssize_t r = ::pread(fd, static_cast<uint8_t*>(p) + done, size_ - done, off_t(done));
      if (r <= 0) {
        ::munmap(p, n);
        ::close(fd);
        throw Error("cannot read " + path + ": " + (r < 0 ? std::strerror(errno) : "unexpected end of file"));
      }
      done += size_t(r);
    }
    data_ = static_cast<const uint8_t*>(p);
    anonymous_ = true;
  } else if (size_ > 0) {
    void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      ::close(fd);
      throw Error("cannot mmap " + path + ": " + std::strerror(errno));
    }
    data_ = static_cast<const uint8_t*>(p);
  }
  ::close(fd);
}

MappedFile::MappedFile(std::string name, const std::string& bytes) : path_(std::move(name)), size_(bytes.size()) {
  if (size_ == 0) return;
  owned_ = std::make_unique<uint8_t[]>(size_);
  std::memcpy(owned_.get(), bytes.data(), size_);
  data_ = owned_.get();
}

MappedFile::~MappedFile() {
  if (!data_ || owned_) return;
  const size_t huge = size_t(2) << 20;
  ::munmap(const_cast<uint8_t*>(data_), anonymous_ ? (size_ + huge - 1) / huge * huge : size_);
}

namespace {
LoadMode g_load_mode = LoadMode::Mmap;
}
void set_load_mode(LoadMode m) { g_load_mode = m; }
LoadMode load_mode() { return g_load_mode; }

std::string read_text_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error("cannot open " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

}  // namespace mm
