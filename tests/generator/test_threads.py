import cv2
import torch
from threadpoolctl import threadpool_info, threadpool_limits

from candor.generator.threads import one_thread_per_stage


def test_a_pipeline_stage_runs_the_numeric_libraries_on_its_own_thread():
    before_torch, before_cv2 = torch.get_num_threads(), cv2.getNumThreads()
    with threadpool_limits(limits=2, user_api="blas"):  # restored on exit, like the rest below
        torch.set_num_threads(2)
        cv2.setNumThreads(2)
        try:
            one_thread_per_stage()
            assert torch.get_num_threads() == 1
            assert cv2.getNumThreads() == 1
            blas = [p for p in threadpool_info() if p["user_api"] == "blas"]
            assert blas and all(p["num_threads"] == 1 for p in blas)
        finally:
            torch.set_num_threads(before_torch)
            cv2.setNumThreads(before_cv2)
