fn main() {
    println!("gen-pipeline: under construction");
}
