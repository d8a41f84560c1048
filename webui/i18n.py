"""Labels and help texts in English and Chinese; the browser's language picks one (gradio i18n)."""

from __future__ import annotations

import gradio as gr

# key: (English, 中文)
_TEXTS: dict[str, tuple[str, str]] = {
    "title": ("Face fusion", "人脸融合"),
    "intro": (
        "Drop a **source face** and a **target photo**, choose the faces, move a few sliders and press "
        "**Fuse**. Everything runs on this machine.",
        "上传**源人脸**和**目标照片**，选择人脸，调整参数后点击**融合**。所有处理都在本机完成。",
    ),
    "source": ("Source face", "源人脸"),
    "target": ("Target photo", "目标照片"),
    "source_faces": ("Faces found in the source", "源图中检测到的人脸"),
    "target_faces": ("Faces found in the target", "目标图中检测到的人脸"),
    "source_face": ("Source face to use", "使用的源人脸"),
    "source_face_info": (
        "Index shown on the picture above; 0 is the largest face.",
        "对应上图中的编号，0 为最大的人脸。",
    ),
    "target_face": ("Target face to replace", "要替换的目标人脸"),
    "target_face_info": ("Index shown above, or all faces.", "对应上图中的编号，或全部人脸。"),
    "presets": ("Presets", "预设"),
    "preset_social": ("Social media", "社交媒体"),
    "preset_art": ("Art", "艺术创作"),
    "preset_restore": ("Old-photo restoration", "老照片修复"),
    "blend_ratio": ("Blend ratio", "融合比例"),
    "blend_ratio_info": (
        "0 keeps the target face, 1 takes the source face fully.",
        "0 保留目标人脸，1 完全使用源人脸。",
    ),
    "mode": ("Fusion mode", "融合模式"),
    "mode_info": (
        "normal: the source face under the photo's light, soft edge; blend: Poisson (seamless) "
        "blending; overlay: overlay blend of the face layer, more contrast.",
        "normal：源人脸采用照片光影，边缘柔和；blend：泊松无缝融合；overlay：叠加混合，对比更强。",
    ),
    "skin_smoothing": ("Skin smoothing", "皮肤平滑"),
    "skin_smoothing_info": ("Evens out skin on the face only.", "只对面部皮肤做平滑。"),
    "brightness": ("Brightness", "亮度"),
    "brightness_info": ("-1 darker ... +1 brighter, whole picture.", "-1 更暗 … +1 更亮，作用于整张图。"),
    "contrast": ("Contrast", "对比度"),
    "contrast_info": ("-1 flatter ... +1 punchier.", "-1 更平淡 … +1 更鲜明。"),
    "saturation": ("Saturation", "饱和度"),
    "saturation_info": ("-1 grey ... +1 vivid colours.", "-1 灰度 … +1 色彩浓郁。"),
    "sharpen": ("Sharpen", "锐化"),
    "sharpen_info": ("Fine detail boost applied last.", "最后一步增强细节。"),
    "resolution": ("Output resolution", "输出分辨率"),
    "resolution_info": (
        "Square presets, 'original', or type a custom size such as 1024x1792.",
        "方形预设、original（原尺寸），或输入自定义尺寸如 1024x1792。",
    ),
    "fit": ("Fit", "适配方式"),
    "fit_info": (
        "pad: whole photo, mirrored borders; crop: fill and trim; stretch: distort to fit.",
        "pad：完整保留并镜像补边；crop：填满后裁切；stretch：拉伸变形。",
    ),
    "output_format": ("Output format", "输出格式"),
    "output_format_info": (
        "PNG is lossless; JPEG and WebP are smaller.",
        "PNG 无损；JPEG 和 WebP 文件更小。",
    ),
    "engine": ("Engine", "引擎"),
    "engine_info": (
        "How the face is fused. auto: inswapper, else modelscope, else classic, by which models are "
        "installed. Unavailable engines say why below.",
        "人脸融合方式。auto：按已安装的模型依次选择 inswapper、modelscope、classic。"
        "不可用的引擎在下方说明原因。",
    ),
    "upscaler": ("Face upscaler", "人脸放大算法"),
    "upscaler_info": (
        "Only matters when the face is drawn larger than the source has it (large outputs). "
        "realesrgan: learned detail, about 0.5-2 s per face on a CPU.",
        "仅当输出中的人脸大于源照片中的人脸时起作用。realesrgan：学习式细节，CPU 上每张脸约 0.5-2 秒。",
    ),
    "mouth": ("Mouth", "嘴部"),
    "mouth_info": (
        "Whose mouth the result shows (classic engine). target: the target's own, in place; auto: the "
        "target's when one mouth is open and the other closed (a smile with teeth on a closed mouth "
        "looks pasted), at some cost in likeness.",
        "结果显示谁的嘴部（经典引擎）。target：保留目标自己的嘴；auto：一张嘴张开、另一张闭合时保留目标的嘴"
        "（露齿笑贴到闭嘴的脸上会显得突兀），相似度会略降。",
    ),
    "eyes": ("Eyes", "眼睛"),
    "eyes_info": (
        "Whose eyes, that is whose gaze, the result shows (classic engine), under the source's lids and "
        "brows. auto: the target's when the source is turned far past the target (its hidden side is "
        "then drawn from its mirror image, and its eyes would look opposite ways), at a little cost in "
        "likeness.",
        "结果显示谁的眼睛（即视线，经典引擎），眼睑和眉毛仍来自源人脸。auto：源人脸比目标转得多很多时保留目标的眼睛"
        "（此时源人脸被遮住的一侧取自其镜像，两只眼睛会看向相反方向），相似度会略降。",
    ),
    "nose": ("Nose", "鼻子"),
    "nose_info": (
        "Whose nose the result shows (classic engine). auto: the target's when the source is turned far "
        "past the target (a nose seen from the side cannot be redrawn from the front: it would show a "
        "pale line down the ridge and a dark mark between the brows), at some cost in likeness.",
        "结果显示谁的鼻子（经典引擎）。auto：源人脸比目标转得多很多时保留目标的鼻子（侧面看到的鼻子无法画成正面："
        "会出现鼻梁上的浅色线条和眉间的暗斑），相似度会有所下降。",
    ),
    "detector": ("Face finder", "人脸检测"),
    "detector_info": (
        "mediapipe: MediaPipe's face detector and 468-point mesh (Apache-2.0, fast). dlib: the older "
        "HOG detector and 68-point model (optional extra; its model is for non-commercial use).",
        "mediapipe：MediaPipe 人脸检测与 468 点网格（Apache-2.0，速度快）。dlib：旧的 HOG 检测器与 68 点模型"
        "（可选安装；其模型仅限非商业用途）。",
    ),
    "advanced": ("Advanced", "高级选项"),
    "fuse": ("Fuse", "融合"),
    "result": ("Before / after (drag the slider)", "对比（拖动滑块）"),
    "download": ("Full-resolution result", "全分辨率结果下载"),
    "info": ("Details", "详细信息"),
    "examples": (
        "Examples: source face → target photo (photos that ship with installed packages)",
        "示例：源人脸 → 目标照片（随已安装软件包附带的照片）",
    ),
    # The Batch tab (webui/batch_tab.py).
    "tab_fuse": ("Fuse", "融合"),
    "tab_batch": ("Batch", "批量"),
    "batch_intro": (
        "One **source face** into many **target photos**: add the photos (or one ZIP of them), choose "
        "the options and press **Fuse all**. A photo that fails is listed with the reason; the rest go on.",
        "一张**源人脸**融合到多张**目标照片**：添加照片（或一个 ZIP），选择参数后点击**全部融合**。"
        "失败的照片会列出原因，其余照片继续处理。",
    ),
    "batch_targets": ("Target photos (several files or a ZIP)", "目标照片（多个文件或一个 ZIP）"),
    "batch_run": ("Fuse all", "全部融合"),
    "batch_gallery": ("Results", "结果"),
    "batch_zip": ("All results and report.csv (ZIP)", "全部结果与 report.csv（ZIP）"),
}

EN = {key: texts[0] for key, texts in _TEXTS.items()}
ZH = {key: texts[1] for key, texts in _TEXTS.items()}
I18N = gr.I18n(en=EN, zh=ZH)


def t(key: str) -> gr.i18n.I18nData:
    """A label that the browser shows in its own language."""
    if key not in _TEXTS:
        raise KeyError(f"no translation for {key!r}")
    return I18N(key)
