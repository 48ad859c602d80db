"""The paper's image preprocessing, as stateless (seeded) tf ops.

Every random choice takes a stateless `seed` of shape `(2,)`, so a pipeline
that derives the seed from (run seed, epoch, element index) is deterministic
and resumable. All functions take and return one image in [0, 255].
"""

try:  # Only the tf.data path needs TensorFlow (see one_keras.utils.backends).
    import tensorflow as tf
except ImportError:
    tf = None

CIFAR_NORMALIZATION = {"mean": [0.4914, 0.4822, 0.4465],
                       "std": [0.2023, 0.1994, 0.2010]}
SVHN_NORMALIZATION = {"mean": [0.5, 0.5, 0.5], "std": [0.2, 0.2, 0.2]}
IMAGENET_NORMALIZATION = {"mean": [0.485, 0.456, 0.406],
                          "std": [0.229, 0.224, 0.225]}


def pad_crop_flip(image, seed, padding=4):
    """CIFAR: zero-pad `padding` pixels, random crop back, random h-flip."""
    image = tf.cast(image, tf.float32)
    shape = tf.shape(image)
    seeds = tf.random.experimental.stateless_split(seed, 2)
    padded = tf.pad(image, [[padding, padding], [padding, padding], [0, 0]])
    image = tf.image.stateless_random_crop(padded, shape, seed=seeds[0])
    return tf.image.stateless_random_flip_left_right(image, seed=seeds[1])


def random_resized_crop_flip(image, seed, size, scale=(0.08, 1.0),
                             ratio=(3 / 4, 4 / 3)):
    """ImageNet training: random area/aspect crop, resize to `size`, h-flip."""
    seeds = tf.random.experimental.stateless_split(seed, 2)
    begin, crop_size, _ = tf.image.stateless_sample_distorted_bounding_box(
        tf.shape(image), bounding_boxes=tf.constant(
            [0.0, 0.0, 1.0, 1.0], tf.float32, [1, 1, 4]),
        seed=seeds[0], min_object_covered=0.0, aspect_ratio_range=ratio,
        area_range=scale, max_attempts=10, use_image_if_no_bounding_boxes=True)
    image = tf.slice(image, begin, crop_size)
    image = tf.image.resize(tf.cast(image, tf.float32), (size, size),
                            method="bilinear", antialias=True)
    image = tf.clip_by_value(image, 0.0, 255.0)
    return tf.image.stateless_random_flip_left_right(image, seed=seeds[1])


def resize_center_crop(image, size, resize=None):
    """ImageNet evaluation: shorter side to `resize` (256 for 224), centre crop.
    """
    resize = resize or int(round(size * 256 / 224))
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    scale = resize / tf.reduce_min(shape)
    new_shape = tf.cast(tf.round(shape * scale), tf.int32)
    new_shape = tf.maximum(new_shape, size)
    image = tf.image.resize(tf.cast(image, tf.float32), new_shape,
                            method="bilinear", antialias=True)
    top = (new_shape[0] - size) // 2
    left = (new_shape[1] - size) // 2
    image = image[top:top + size, left:left + size]
    return tf.clip_by_value(tf.ensure_shape(image, (size, size, None)),
                            0.0, 255.0)


def resize_to(image, size):
    """Resizes any image to `size` x `size` (image folders)."""
    image = tf.image.resize(tf.cast(image, tf.float32), (size, size),
                            method="bilinear", antialias=True)
    return tf.clip_by_value(image, 0.0, 255.0)


def flip(image, seed):
    """Random horizontal flip only."""
    return tf.image.stateless_random_flip_left_right(
        tf.cast(image, tf.float32), seed=seed)
