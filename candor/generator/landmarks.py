"""Named regions of mediapipe's 478-point face mesh (468 surface points + 10 iris points).

"Left"/"right" are the subject's own sides: the subject's right eye is on the image's left.
"""

from __future__ import annotations

N_LANDMARKS = 478
N_SURFACE = 468

NOSE_TIP = 1
NASION = 168
FOREHEAD = 10
CHIN = 152
CHEEK_RIGHT = 234  # outline at the subject's right (image left)
CHEEK_LEFT = 454
MOUTH_CORNER_RIGHT = 61
MOUTH_CORNER_LEFT = 291
UPPER_LIP_INNER = 13
LOWER_LIP_INNER = 14
UPPER_LIP_OUTER = 0
LOWER_LIP_OUTER = 17

LIPS_OUTER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185)
LIPS_INNER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 415, 310, 311, 312, 13, 82, 81, 80, 191)
UPPER_LIP = (185, 40, 39, 37, 0, 267, 269, 270, 409, 191, 80, 81, 82, 13, 312, 311, 310, 415)
LOWER_LIP = (146, 91, 181, 84, 17, 314, 405, 321, 375, 95, 88, 178, 87, 14, 317, 402, 318, 324)
# The two rings of the mesh between each lip's outer and inner contours (corners excluded): a shape
# that moves a lip's contours must move these with them, or the lip folds over itself.
UPPER_LIP_MIDDLE = (184, 74, 73, 72, 11, 302, 303, 304, 408, 183, 42, 41, 38, 12, 268, 271, 272, 407)
LOWER_LIP_MIDDLE = (77, 90, 180, 85, 16, 315, 404, 320, 307, 96, 89, 179, 86, 15, 316, 403, 319, 325)

# Eye contours: upper and lower lid, ordered from the outer corner (temple side) to the inner corner.
RIGHT_EYE_UPPER = (33, 246, 161, 160, 159, 158, 157, 173, 133)
RIGHT_EYE_LOWER = (33, 7, 163, 144, 145, 153, 154, 155, 133)
LEFT_EYE_UPPER = (263, 466, 388, 387, 386, 385, 384, 398, 362)
LEFT_EYE_LOWER = (263, 249, 390, 373, 374, 380, 381, 382, 362)
RIGHT_EYE_CORNERS = (33, 133)
LEFT_EYE_CORNERS = (263, 362)

RIGHT_IRIS = (468, 469, 470, 471, 472)  # centre first
LEFT_IRIS = (473, 474, 475, 476, 477)

RIGHT_BROW = (70, 63, 105, 66, 107, 46, 53, 52, 65, 55)  # outer -> inner, upper row then lower row
LEFT_BROW = (300, 293, 334, 296, 336, 276, 283, 282, 295, 285)

FACE_OVAL = (
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152,
    148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
)  # fmt: skip

# Points that do not move with expressions: the rigid pose fit uses only these.
RIGID = (
    1, 4, 5, 6, 168, 197, 195, 10, 151, 33, 133, 263, 362, 234, 454, 127, 356, 93, 323,
    67, 297, 109, 338, 21, 251,
)  # fmt: skip
