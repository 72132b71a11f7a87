/* Bad input to activations and dropout: clear errors naming the layer and the value. */
#include "../check.h"
#include "../support/layer_util.h"

int main(void)
{
    shape s = SHAPE(2, 3, 4, 4);
    dtype f = DTYPE_F32, i32 = DTYPE_I32;
    EXPECT_ERROR("{type: dropout, name: d1, p: 1.5}", &s, &f, 1, "layer 'd1' (dropout)", "p=1.5");
    EXPECT_ERROR("{type: dropout, p: -0.1}", &s, &f, 1, "p=-0.1", "[0, 1)");
    EXPECT_ERROR("{type: relu, slope: 0.1}", &s, &f, 1, "unknown key 'slope'");
    EXPECT_ERROR("{type: leaky_relu, slop: 0.1}", &s, &f, 1, "did you mean 'slope'");
    EXPECT_ERROR("{type: leaky_relu, slope: abc}", &s, &f, 1, "expected a finite number", "abc");
    EXPECT_ERROR("{type: relu}", &s, &i32, 1, "must be f32", "i32");
    EXPECT_ERROR("{type: rleu}", &s, &f, 1, "unknown layer type 'rleu'", "relu");
    shape z = SHAPE(2, 0, 4);
    EXPECT_ERROR("{type: tanh, name: t}", &z, &f, 1, "layer 't' (tanh), input 0", "dimension <= 0");
    shape two[2] = {s, s};
    dtype ff[2] = {f, f};
    EXPECT_ERROR("{type: sigmoid}", two, ff, 2, "takes 1 input(s), got 2");
    printf("errors_act: ok\n");
    return 0;
}
