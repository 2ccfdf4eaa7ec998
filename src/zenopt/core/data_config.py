"""The ``data:`` section of the run configuration: where the data comes from, how it is split,
cleaned, balanced, augmented and scaled."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["DataConfig"]


class DataConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    source: str = Field(
        "digits",
        description="a bundled set (digits, breast_cancer, wine, iris, diabetes), or a .csv, "
        ".parquet, .npz or IDX file, or an image folder",
    )
    target: str | None = Field(None, description="target column of a table")
    labels: str | None = Field(
        None, description="labels IDX file of an IDX images file; null = the one found next to it"
    )
    task: Literal["auto", "classification", "regression"] = Field(
        "auto", description="the kind of prediction; auto: decided from the data"
    )
    resize: int | Literal["auto"] | None = Field(
        "auto",
        description="image side after resizing; auto: 28 for digits, the square input side of "
        "an onnx:PATH or keras:PATH model, files otherwise unchanged; null keeps the original size",
    )
    color: Literal["grayscale", "rgb"] = Field(
        "grayscale", description="the channels images of an image folder are read in"
    )
    categorical: list[str] | None = Field(
        None, description="exactly these columns are categorical; null = detect text columns"
    )
    drop: list[str] = Field(
        default_factory=list, description="columns removed before anything else"
    )
    keep_ids: bool = Field(
        False,
        description="use columns that look like identifiers anyway (else the run stops and "
        "names them)",
    )
    group: str | None = Field(
        None, description="column whose rows stay on one side of every split (a patient)"
    )
    test_source: str | None = Field(
        None,
        description="a given test set (file/folder), then test_fraction is unused; auto: the "
        "IDX t10k pair of an IDX training pair",
    )
    val_source: str | None = Field(
        None, description="a given validation set (file/folder), then val_fraction is unused"
    )
    encode: Literal["onehot", "ordinal"] = Field(
        "onehot", description="how categorical columns are encoded"
    )
    impute: Literal["none", "mean", "median", "most_frequent", "constant"] = Field(
        "none", description="how missing numbers are filled; none: a missing number is an error"
    )
    impute_value: float = Field(0.0, description="the fill value of impute: constant")
    drop_duplicates: bool = Field(
        False,
        description="drop repeated rows before the split, so no row is in both train and test",
    )
    balance: Literal["none", "class_weight", "oversample", "undersample", "smote"] = Field(
        "none", description="how the classes of the training rows are balanced"
    )
    augment: list[Literal["shift", "rotate", "noise", "mixup"]] = Field(
        default_factory=list,
        description="augmentations applied during training: shift, rotate, noise (images); "
        "noise, mixup (tables)",
    )
    augment_shift: float = Field(2.0, ge=0.0, description="pixels, uniform in ±shift")
    augment_rotate: float = Field(10.0, ge=0.0, le=180.0, description="degrees, uniform in ±rotate")
    augment_noise: float = Field(
        0.1, ge=0.0, description="Gaussian std, in the scaled units the network sees"
    )
    mixup_alpha: float = Field(
        0.2, gt=0.0, description="mixup draws its mixing weight from Beta(alpha, alpha)"
    )
    clip: Literal["none", "quantile", "zscore"] = Field(
        "none",
        description="clip outliers of table columns to bounds learned on the training split",
    )
    clip_quantiles: tuple[float, float] = Field(
        (0.01, 0.99),
        description="clip: quantile: the low and high quantile of each column on the training "
        "split (after imputation) that its values are clipped to",
    )
    clip_zscore: float = Field(
        3.0,
        gt=0.0,
        description="clip: zscore: values are clipped to each column's training-split mean ± "
        "this many standard deviations",
    )
    scale: Literal["standard", "minmax", "robust", "none"] = Field(
        "standard", description="feature scaling fitted on the training split (images: per channel)"
    )
    select: Literal["none", "variance", "kbest_f", "kbest_mi", "model"] = Field(
        "none",
        description="feature selection of tables fitted on the training split; model: by "
        "extra trees' importance",
    )
    select_k: int = Field(
        10,
        ge=1,
        description="features kept by kbest_f, kbest_mi and model (capped at the feature count)",
    )
    variance_threshold: float = Field(
        0.0,
        ge=0.0,
        description="select: variance: columns whose training-split variance (before scaling) "
        "is not above this are dropped; 0 drops constant columns",
    )
    pca: int | float | None = Field(
        None,
        description="PCA of tables: components (an integer) or the variance fraction to keep "
        "(0 < f < 1); null = no PCA",
    )
    val_fraction: float = Field(
        0.15,
        gt=0.0,
        lt=0.5,
        description="fraction of all rows held out as the validation split (early stopping)",
    )
    test_fraction: float = Field(
        0.2,
        gt=0.0,
        lt=0.5,
        description="fraction of all rows held out as the test split, only for the final "
        "evaluation",
    )

    @field_validator("clip_quantiles")
    @classmethod
    def _quantiles(cls, value: tuple[float, float]) -> tuple[float, float]:
        low, high = value
        if not 0.0 <= low < high <= 1.0:
            raise ValueError("must be two quantiles 0 <= low < high <= 1")
        return value

    @field_validator("pca")
    @classmethod
    def _pca(cls, value: int | float | None) -> int | float | None:
        if isinstance(value, float) and not 0.0 < value < 1.0:
            raise ValueError("a fraction of variance must be between 0 and 1 (or give a count)")
        if isinstance(value, int) and value < 1:
            raise ValueError("a component count must be >= 1")
        return value

    @field_validator("resize")
    @classmethod
    def _resize_range(cls, value: int | str | None) -> int | str | None:
        if isinstance(value, int) and not 4 <= value <= 512:
            raise ValueError("must be between 4 and 512, 'auto' or null")
        return value

    def image_side(self, default: int | None) -> int | None:
        """The side images are resized to: ``resize``, or ``default`` when it is ``auto``."""
        return default if self.resize == "auto" else self.resize  # type: ignore[return-value]
