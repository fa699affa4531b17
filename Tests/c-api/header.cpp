// slm.h must compile as C++ (extern "C", no C-only constructs) and link from a C++ program.
#include <slm.h>

#include <cstdio>

int main() {
    slm_model_params params = slm_model_default_params();
    slm_sampling_params sampling = slm_sampling_default_params();
    slm_model *model = nullptr;
    slm_status status = slm_model_load("/nonexistent.gguf", &params, &model);
    std::printf("%s %s abi %u temp %.1f\n", slm_status_string(status), slm_last_error(),
                static_cast<unsigned>(slm_abi_version()), static_cast<double>(sampling.temperature));
    return status == SLM_ERR_IO && slm_abi_version() == SLM_ABI_VERSION ? 0 : 1;
}
